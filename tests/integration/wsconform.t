#!/usr/bin/env bash
# wsconform end to end: the default run against the embedded reference server (0 FAIL, every
# report written and valid), the exit statuses, baseline gating, and certification runs
# against two real servers whose FAILs must be exactly the documented ones in reports/peers/.
. "$(dirname "$0")/lib.sh"
WSC=$WSC_BUILD/bin/wsconform
need_bins "$WSC" "$SERVER"
export WSC_CASES=$ROOT/cases
# A sanitizer build runs the harness and the embedded server several times slower: stretch the
# per-case deadline rather than let the stress cases (20000 messages) time out.
TMO=(--timeout 5s)
case $WSC_BUILD in */asan) TMO=(--timeout 60s) ;; esac

# ---- the default run ----------------------------------------------------------------------
out=$TMP/ref
timeout 300 "$WSC" run "${TMO[@]}" --quiet --out "$out" >"$TMP/ref.log" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then ok "default run against the reference server exits 0"; else
  not_ok "default run against the reference server exits 0 (got $rc)"
  diag_file "wsconform run" "$TMP/ref.log"
  [ -f "$out/report.md" ] && diag_file "report.md" "$out/report.md"
fi
for f in report.json report.html report.tap report.junit.xml report.md; do
  check "report $f written" test -s "$out/$f"
done
check "report.json parses as JSON" "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$out/report.json"
fails=$("$PY" - "$out/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cases = r["cases"]
bad = [c["id"] for c in cases if c["verdict"] in ("FAIL", "ERROR") and c.get("level") in ("MUST", "SHOULD")]
print(len(cases), len(bad), " ".join(bad[:20]))
PY
)
read -r ncases nbad badlist <<<"$fails"
check "reference: every MUST and SHOULD case passes ($ncases cases, $nbad failing: ${badlist:-none})" test "${nbad:-1}" -eq 0
check "the default corpus is not trivially small ($ncases cases)" test "${ncases:-0}" -ge 100
nstomp=$("$PY" -c 'import json,sys; print(sum(1 for c in json.load(open(sys.argv[1]))["cases"] if "stomp" in c["tags"]))' "$out/report.json")
check "the default run includes the STOMP corpus against the embedded /stomp ($nstomp cases)" \
  bash -c '[ "$1" -ge 10 ] && grep -q "\"stomp_target\": \"ws://127.0.0.1:[0-9]*/stomp\"" "$2"' \
  _ "${nstomp:-0}" "$out/report.json"
if command -v xmllint >/dev/null 2>&1; then
  check "report.junit.xml validates against reports/junit.xsd" \
    xmllint --noout --schema "$ROOT/reports/junit.xsd" "$out/report.junit.xml"
else
  skip "xmllint not installed (libxml2-utils)"
fi
check "report.tap is a passing TAP stream for prove" \
  bash -c 'prove --exec cat "$1" >"$2" 2>&1' _ "$out/report.tap" "$TMP/prove-tap.log"
check "report.html needs no network (no http(s) URLs in src/href)" \
  bash -c '! grep -Eq "(src|href)=\"https?://" "$1"' _ "$out/report.html"

# ---- exit statuses ------------------------------------------------------------------------
"$WSC" run --quiet --out "$TMP/x" ws://127.0.0.1:1/ >/dev/null 2>"$TMP/unreach.err"
check "unreachable target exits 3" test $? -eq 3
"$WSC" run --quiet --out "$TMP/x" 'http://nope' >/dev/null 2>"$TMP/badurl.err"
rc=$?
check "bad URL exits 2 with a one-line reason" test "$rc" -eq 2 -a "$(wc -l <"$TMP/badurl.err")" -eq 1
printf 'case broken.case "x"\n  level  SOMETIMES\n' >"$TMP/broken.case"
"$WSC" lint "$TMP/broken.case" >"$TMP/lint.out" 2>&1
rc=$?
check "lint of a bad case file exits 2 with file:line:col" \
  bash -c '[ "$1" -eq 2 ] && grep -Eq "broken.case:[0-9]+:[0-9]+: " "$2"' _ "$rc" "$TMP/lint.out"
"$WSC" run --bogus-flag >/dev/null 2>&1
check "unknown flag exits 2" test $? -eq 2

# ---- baseline: only regressions fail -------------------------------------------------------
# 1 s heart-beats, as the embedded server offers: the heart-beat cases wait for a beat within
# 1.5 intervals, and a corpus run should not wait out the 10 s default.
start_wsref_server wsref --quiet --stomp-heartbeat 1000,1000
sel=(-c 'framing.binary.*')
"$WSC" run --quiet "${sel[@]}" --out "$TMP/base" "$SERVER_URL/echo" >/dev/null 2>&1
check "baseline run against /echo passes" test $? -eq 0
"$WSC" run --quiet "${sel[@]}" --out "$TMP/text" "$SERVER_URL/text" >/dev/null 2>&1
check "binary cases against the text-only /text endpoint fail (exit 1)" test $? -eq 1
"$WSC" run --quiet "${sel[@]}" --out "$TMP/reg" --baseline "$TMP/base/report.json" \
  "$SERVER_URL/text" >/dev/null 2>&1
check "the same run with the /echo baseline is a regression (exit 4)" test $? -eq 4
"$WSC" run --quiet "${sel[@]}" --out "$TMP/same" --baseline "$TMP/text/report.json" \
  "$SERVER_URL/text" >/dev/null 2>&1
check "failures already in the baseline do not fail the run (exit 0)" test $? -eq 0
"$WSC" diff "$TMP/base/report.json" "$TMP/text/report.json" >"$TMP/diff.out" 2>&1
check "diff lists the changed cases" grep -q 'framing.binary' "$TMP/diff.out"

# ---- STOMP: the corpus against wsref-server's broker, and kept away from plain URLs ---------
"$WSC" run --quiet --stomp --out "$TMP/stomp" "$SERVER_URL/stomp" >"$TMP/stomp.log" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then ok "run --stomp against wsref-server /stomp exits 0"; else
  not_ok "run --stomp against wsref-server /stomp exits 0 (got $rc)"
  diag_file "wsconform run --stomp" "$TMP/stomp.log"
fi
"$WSC" run --quiet -c 'framing.text.*' --out "$TMP/ws-only" "$SERVER_URL/echo" >/dev/null 2>&1
check "a WebSocket URL with WebSocket patterns runs no STOMP case" \
  bash -c '! grep -q "\"stomp\"" "$1"' _ "$TMP/ws-only/report.json"

# ---- certification of real servers ----------------------------------------------------------
# certify NAME URL [RUN-OPTIONS...]: the run's FAIL/ERROR ids must equal
# reports/peers/NAME.expected (one id per line, '#' comments): every FAIL is a documented
# violation, and a fixed one is noticed.
certify() {
  local name=$1 url=$2 exp=$ROOT/reports/peers/$1.expected
  shift 2
  timeout 600 "$WSC" run "${TMO[@]}" --quiet --out "$TMP/$name" "$@" "$url" >"$TMP/$name.log" 2>&1
  local rc=$?
  if [ ! -f "$TMP/$name/report.json" ]; then
    not_ok "$name: run produced a report (exit $rc)"; diag_file "$name" "$TMP/$name.log"; return
  fi
  "$PY" - "$TMP/$name/report.json" >"$TMP/$name.got" <<'PY'
import json, sys
for c in json.load(open(sys.argv[1]))["cases"]:
    if c["verdict"] in ("FAIL", "ERROR"):
        print(c["id"])
PY
  sort -o "$TMP/$name.got" "$TMP/$name.got"
  grep -v '^#' "$exp" 2>/dev/null | sed '/^[[:space:]]*$/d' | sort >"$TMP/$name.want"
  if cmp -s "$TMP/$name.got" "$TMP/$name.want"; then
    ok "$name: FAILs are exactly the documented ones ($(wc -l <"$TMP/$name.want"))"
  else
    not_ok "$name: FAILs differ from reports/peers/$name.expected"
    diag "unexpected (not documented):" $(comm -23 "$TMP/$name.got" "$TMP/$name.want")
    diag "documented but now passing:" $(comm -13 "$TMP/$name.got" "$TMP/$name.want")
  fi
}

if have_python_websockets; then
  start_bg pyws "$PY" "$PEERS/py_echo_server.py" --port 0
  if wait_listen pyws "$BG_PID"; then certify python-websockets "$LISTEN_URL/"; else not_ok "python-websockets starts"; fi
else
  skip "python3-websockets not installed"
fi
if have_node_ws; then
  start_bg nodews env NODE_PATH="$WSC_NODE_DIR/node_modules" node "$PEERS/ws_echo_server.js" 0
  if wait_listen nodews "$BG_PID"; then certify node-ws "$LISTEN_URL/"; else not_ok "npm ws starts"; fi
else
  skip "$(node_ws_reason)"
fi
# The STOMP corpus against a real broker: RabbitMQ with web-stomp (Debian's rabbitmq-server,
# started by the project's own script on free loopback ports).
. "$IT_DIR/stomp_lib.sh"
why=$(rabbitmq_unavailable)
if [ -n "$why" ]; then
  skip "RabbitMQ certification: $why"
elif start_rabbitmq rabbit; then
  certify rabbitmq-web-stomp "$RABBIT_URL" --stomp --stomp-login guest --stomp-passcode guest \
    --stomp-host /
  stop_rabbitmq
else
  not_ok "RabbitMQ starts"
fi
done_testing
