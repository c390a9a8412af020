#!/usr/bin/env bash
# `wsconform fuzz URL`, live campaigns: the command line's refusals and exit statuses, the
# same seed giving the same mutants, a short campaign against wsref-server started by --exec
# (no crash, no hang), and one against a deliberately broken server (peers/
# broken_ws_server.py: exits on an RSV1 frame, blocks on a declared length over 1 MiB) that
# must find both bugs and write cases that `wsconform run --case FILE` replays as FAIL or
# ERROR against that server, and as PASS against wsref-server; and a short campaign against
# Debian's python3-websockets, end to end.
. "$(dirname "$0")/lib.sh"
WSC=$WSC_BUILD/bin/wsconform
need_bins "$WSC" "$SERVER"
export WSC_CASES=$ROOT/cases
BROKEN=$PEERS/broken_ws_server.py
# exited PID: gone, or a zombie nobody reaped yet
exited() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)
  [ -z "$st" ] || [ "$st" = Z ]
}

# ---- the command line -------------------------------------------------------------------
"$WSC" fuzz --help >"$TMP/help.out" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && grep -q -- "--exec 'CMD'" "$TMP/help.out" && grep -q -- "--seed N" "$TMP/help.out"; then
  ok "fuzz --help describes the options"
else
  not_ok "fuzz --help describes the options (rc $rc)"
  diag_file "help" "$TMP/help.out"
fi
check "wsconform help fuzz is the same text" cmp -s "$TMP/help.out" <("$WSC" help fuzz)

"$WSC" fuzz ws://192.0.2.1/echo >"$TMP/remote.out" 2>&1
rc=$?
if [ "$rc" -eq 2 ] && [ "$(wc -l <"$TMP/remote.out")" -eq 1 ] && grep -q "refusing to fuzz 192.0.2.1" "$TMP/remote.out"; then
  ok "a non-loopback target is refused with one line, exit 2"
else
  not_ok "a non-loopback target is refused with one line, exit 2 (rc $rc)"
  diag_file "output" "$TMP/remote.out"
fi
"$WSC" fuzz >/dev/null 2>&1
check "no URL: exit 2" test $? -eq 2
"$WSC" fuzz --exec true ws://127.0.0.1:1/ --time never >/dev/null 2>&1
check "a bad duration: exit 2" test $? -eq 2

port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
timeout 60 "$WSC" fuzz -q -n 1 -o "$TMP/unreach" "ws://127.0.0.1:$port/echo" >"$TMP/unreach.out" 2>&1
rc=$?
if [ "$rc" -eq 3 ] && grep -q "unreachable" "$TMP/unreach.out"; then
  ok "an unreachable target: exit 3"
else
  not_ok "an unreachable target: exit 3 (rc $rc)"
  diag_file "output" "$TMP/unreach.out"
fi

# ---- determinism: the same seed, the same mutants ----------------------------------------
run_det() { # run_det NAME: 20 mutants, seed 42, one line per mutant (times stripped)
  timeout 300 "$WSC" fuzz -v --seed 42 -n 20 --time 120s -o "$TMP/$1" \
    --exec "$SERVER --port {port}" 'ws://127.0.0.1:{port}/echo' >"$TMP/$1.out" 2>"$TMP/$1.err"
  DET_RC=$?
  grep -E '^(iteration |  )' "$TMP/$1.err" | sed -E 's/, [0-9.]+ ms: .*$//' >"$TMP/$1.lines"
}
run_det det1
rc1=$DET_RC
run_det det2
if [ "$rc1" -eq 0 ] && [ "$DET_RC" -eq 0 ] && [ "$(grep -c '^iteration ' "$TMP/det1.lines")" -eq 20 ] &&
  cmp -s "$TMP/det1.lines" "$TMP/det2.lines"; then
  ok "seed 42 gives the same 20 mutants twice"
else
  not_ok "seed 42 gives the same 20 mutants twice (rc $rc1, $DET_RC)"
  diff "$TMP/det1.lines" "$TMP/det2.lines" | head -20 | sed 's/^/# /' >&2
  diag_file "run 1" "$TMP/det1.err"
fi

# ---- the reference server survives a campaign --------------------------------------------
# campaign NAME TARGET [ARGS...]: a campaign writing $TMP/NAME.out/.err, judged as one that
# must run to its end (exit 0 or 1) with no crash, hang or memory finding; rc is its exit.
campaign() {
  local name=$1 target=$2
  shift 2
  timeout 300 "$WSC" fuzz "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
  if [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; then
    ok "a campaign against $target runs to its end (exit $rc)"
  else
    not_ok "a campaign against $target runs to its end (exit $rc)"
    diag_file "stderr" "$TMP/$name.err"
  fi
  sed 's/^/# /' "$TMP/$name.out" >&2
  for kind in crash hang memory; do
    check "$target: no $kind" grep -qE "^  $kind +0 +0" "$TMP/$name.out"
  done
}

out=$TMP/ref
campaign ref wsref-server --seed 1 --time 10s --hang-timeout 2s -o "$out" \
  --exec "$SERVER --port {port}" 'ws://127.0.0.1:{port}/echo'
if [ "$rc" -eq 1 ]; then
  # only protocol findings may explain a 1: each is listed with its file for the report
  for f in "$out"/protocol-*.txt; do diag_file "protocol finding" "$f"; done
fi
iters=$(sed -nE 's/^  iterations +([0-9]+) in .*/\1/p' "$TMP/ref.out")
check "the summary counts the iterations ($iters) and exec/s" \
  grep -qE '^  iterations +[0-9]+ in [0-9.]+ s, [0-9.]+ exec/s' "$TMP/ref.out"
check "the summary is written to the findings folder" cmp -s "$TMP/ref.out" "$out/summary.txt"
check "the target's output is kept in target.log" grep -q "listening on" "$out/target.log"
xport=$(sed -nE 's/^  exec .* --port ([0-9]+) .*/\1/p' "$TMP/ref.out")
check "wsref-server (port $xport) was stopped at the end" \
  bash -c "[ -n '$xport' ] && ! (exec 3<>/dev/tcp/127.0.0.1/$xport) 2>/dev/null"

# ---- a deliberately broken server ---------------------------------------------------------
if ! [ -x "$PY" ]; then
  skip "broken server: $PY not installed"
  done_testing
fi
# A base corpus of its own: the seed's mutants must not change when cases/ grows.
cat >"$TMP/base.case" <<'EOF'
clause RFC6455 5.6
level  MUST

case fz.text "A text message is echoed"
  send text "Hello, fuzz"
  expect text "Hello, fuzz"
  finish

case fz.binary "A binary message is echoed"
  send binary hex"00 01 02 03 fe ff"
  expect binary hex"00 01 02 03 fe ff"
  finish

case fz.fragments "A message in two fragments is echoed"
  send text "frag" fin=0
  send cont "ment"
  expect text "fragment"
  finish

case fz.ping "A ping is answered with its payload"
  clause RFC6455 5.5.2
  send ping "ping"
  expect pong "ping"
  finish
EOF
bad=$TMP/broken
timeout 300 "$WSC" fuzz --seed 3 --time 10s --hang-timeout 1s --shrink-time 5s --max-findings 1 \
  --case "$TMP/base.case" -o "$bad" --exec "$PY $BROKEN --port {port}" \
  'ws://127.0.0.1:{port}/echo' >"$TMP/bad.out" 2>"$TMP/bad.err"
rc=$?
check "the campaign against the broken server exits 1 (findings)" test "$rc" -eq 1
sed 's/^/# /' "$TMP/bad.out" >&2
for kind in crash hang; do
  f=$bad/$kind-001.case
  if [ -s "$f" ]; then ok "a $kind was found and written ($f)"; else
    not_ok "a $kind was found and written"
    diag_file "stderr" "$TMP/bad.err"
    continue
  fi
  check "$kind-001.case passes lint" "$WSC" lint "$f"
  check "$kind-001.txt says what was seen" grep -q "^kind      $kind" "$bad/$kind-001.txt"
  # replay against a fresh broken server: FAIL or ERROR, and the bug really fired
  start_bg "replay-$kind" "$PY" "$BROKEN" --port 0
  pid=$BG_PID
  if wait_listen "replay-$kind" "$pid"; then
    timeout 60 "$WSC" run --case "$f" -f md -o - "$LISTEN_URL/echo" >"$TMP/replay-$kind.md" 2>&1
    rrc=$?
    if [ "$rrc" -eq 1 ] && grep -qE '^(FAIL|ERROR) fuzz\.' "$TMP/replay-$kind.md"; then
      ok "wsconform run --case $kind-001.case reproduces it (FAIL/ERROR, exit 1)"
    else
      not_ok "wsconform run --case $kind-001.case reproduces it (exit $rrc)"
      diag_file "replay" "$TMP/replay-$kind.md"
    fi
    case $kind in
      crash)
        sleep 0.2
        check "the replay made the broken server exit" exited "$pid"
        ;;
      hang) check "the replay made the broken server block" grep -q "blocking" "$TMP/replay-$kind.out" ;;
    esac
  else
    not_ok "a fresh broken server for the $kind replay"
  fi
  { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null
  # the same file against the reference server passes: it isolates the bug
  timeout 60 "$WSC" run --case "$f" -f md -o - >"$TMP/replay-ref-$kind.md" 2>&1
  check "$kind-001.case passes against the reference server" test $? -eq 0
done

# ---- a real third-party server: Debian's python3-websockets ---------------------------------
# End to end against a server we did not write: the campaign runs to its end, the server
# neither crashes nor hangs, and every finding is a case file that lints and that passes
# against the reference server (so it accuses the target, not the suite).
if ! "$PY" -c 'import websockets' 2>/dev/null; then
  skip "python3-websockets campaign: the module is not installed"
  done_testing
fi
py=$TMP/pyws
campaign py python3-websockets --seed 11 --time 15s --hang-timeout 2s --shrink-time 5s \
  --max-findings 2 -o "$py" --exec "$PY $PEERS/py_echo_server.py --port {port}" \
  'ws://127.0.0.1:{port}/'
for f in "$py"/*.case; do
  [ -e "$f" ] || continue
  b=$(basename "$f")
  check "finding $b passes lint" "$WSC" lint "$f"
  timeout 60 "$WSC" run --case "$f" -f md -o - >"$TMP/py-ref-$b.md" 2>&1
  check "finding $b passes against the reference server" test $? -eq 0
done

done_testing
