# shellcheck shell=bash
# Shared helpers for the integration tests (sourced by tests/integration/*.t).
#
# Each .t prints TAP on stdout (plan at the end: `done_testing`), diagnostics on stderr (prove
# shows stderr as is). Servers run on loopback ports chosen at run time: every server we start
# binds port 0 and prints `listening on ws[s]://127.0.0.1:PORT`. Every process started here is
# killed on exit, and every wait is bounded.
set -u
shopt -s lastpipe # `feed ... | client ...`: the client function runs here and sets CLIENT_RC

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$IT_DIR/../.." && pwd)
WSC_BUILD=${WSC_BUILD:-$ROOT/build}
WSC_NODE_DIR=${WSC_NODE_DIR:-$ROOT/build/node}
PEERS=$IT_DIR/peers
PY=/usr/bin/python3 # Debian's python, which has python3-websockets (not a pyenv shim)
SERVER=$WSC_BUILD/bin/wsref-server
CLIENT=$WSC_BUILD/bin/wsref-client
# Messages up to 16 MiB are echoed; leave room whatever the server's default limit is.
MAX_MESSAGE=$((64 << 20))

TMP=$(mktemp -d "${TMPDIR:-/tmp}/wsc-it.XXXXXX")
_pids=()
_n=0
_failed=0

_cleanup() {
  local pid
  for pid in "${_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${_pids[@]}"; do
    # Give each a moment to close its sessions, then make sure.
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  done
  rm -rf "$TMP"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- TAP --------------------------------------------------------------------------------
ok() { _n=$((_n + 1)); echo "ok $_n - $*"; }
not_ok() { _n=$((_n + 1)); _failed=$((_failed + 1)); echo "not ok $_n - $*"; }
# Skips also go to stderr: prove shows stderr even when it is not verbose.
skip() { _n=$((_n + 1)); echo "ok $_n # SKIP $*"; echo "# SKIP $*" >&2; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
diag() { printf '%s\n' "$@" | sed 's/^/# /' >&2; }
diag_file() { # diag_file LABEL FILE: show a (log) file's tail
  [ -s "$2" ] || return 0
  echo "# --- $1 ($2):" >&2
  tail -n 30 "$2" | cut -c1-200 | sed 's/^/#   /' >&2
}
# check DESCRIPTION CMD...: one test, ok when CMD succeeds
check() {
  local d=$1
  shift
  if "$@"; then ok "$d"; else not_ok "$d"; fi
}
# todo_check REASON DESCRIPTION CMD...: a known failure, reported with TAP's TODO directive
# (prove lists it as unexpectedly passing once it is fixed; it does not fail the run).
todo_check() {
  local why=$1 d=$2
  shift 2
  _n=$((_n + 1))
  if "$@"; then echo "ok $_n - $d # TODO $why"; else echo "not ok $_n - $d # TODO $why"; fi
}
done_testing() {
  echo "1..$_n"
  [ "$_failed" -eq 0 ] || diag "$_failed of $_n failed"
  exit $((_failed > 0))
}
bail() { echo "Bail out! $*"; exit 255; }

# ---- requirements -----------------------------------------------------------------------
# Skip only what a missing package explains; a missing program of ours is a failure.
need_bins() {
  local b
  for b in "$@"; do
    [ -x "$b" ] || bail "$b not built (run make first; WSC_BUILD=$WSC_BUILD)"
  done
}
have_python_websockets() {
  [ -x "$PY" ] && "$PY" -c 'import websockets' 2>/dev/null
}
have_node_ws() {
  command -v node >/dev/null 2>&1 && [ -f "$WSC_NODE_DIR/node_modules/ws/package.json" ]
}
node_ws_reason() {
  command -v node >/dev/null 2>&1 || { echo "node not installed (scripts/deps.sh installs nodejs)"; return; }
  echo "npm package ws not installed in $WSC_NODE_DIR (scripts/deps.sh installs it; npm registry unreachable?)"
}
have_openssl() { command -v openssl >/dev/null 2>&1; }

# ---- processes --------------------------------------------------------------------------
# start_bg NAME CMD...: run CMD in the background (stdout $TMP/NAME.out, stderr
# $TMP/NAME.err, stdin /dev/null), remembered for cleanup; sets BG_PID.
start_bg() {
  local name=$1
  shift
  "$@" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err" &
  BG_PID=$!
  _pids+=("$BG_PID")
}

# wait_listen NAME PID [SECONDS]: wait for `listening on URL` on NAME's stdout; sets
# LISTEN_URL (scheme://host:port, no path) and LISTEN_PORT. Fails (with diagnostics) if the
# process exits or the time runs out.
wait_listen() {
  local name=$1 pid=$2 limit=${3:-20} i line
  for ((i = 0; i < limit * 20; i++)); do
    line=$(grep -m1 -oE 'listening on (wss?|http)://[^ /]+' "$TMP/$name.out" 2>/dev/null)
    if [ -n "$line" ]; then
      LISTEN_URL=${line#listening on }
      LISTEN_PORT=${LISTEN_URL##*:}
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      diag "$name exited before listening"
      diag_file "$name stdout" "$TMP/$name.out"
      diag_file "$name stderr" "$TMP/$name.err"
      return 1
    fi
    sleep 0.05
  done
  diag "$name did not print 'listening on' within ${limit}s"
  diag_file "$name stderr" "$TMP/$name.err"
  return 1
}

# stop_pid PID [SECONDS]: SIGTERM, wait for exit; sets STOP_STATUS (exit code; 124 = did not
# exit in time and was killed).
stop_pid() {
  local pid=$1 limit=${2:-10} i
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < limit * 20; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    STOP_STATUS=124
    return 1
  fi
  wait "$pid" 2>/dev/null
  STOP_STATUS=$?
}

# start_wsref_server NAME [ARGS...]: start build/bin/wsref-server on a free port; sets
# SERVER_PID and SERVER_URL (ws://127.0.0.1:PORT or wss://...).
start_wsref_server() {
  local name=$1
  shift
  start_bg "$name" timeout 600 "$SERVER" --port 0 --host 127.0.0.1 --max-message "$MAX_MESSAGE" "$@"
  SERVER_PID=$BG_PID
  wait_listen "$name" "$SERVER_PID" || return 1
  SERVER_URL=$LISTEN_URL
}

# make_cert: self-signed certificate for 127.0.0.1 in $TMP/cert.pem, key in $TMP/key.pem.
make_cert() {
  CERT=$TMP/cert.pem
  KEY=$TMP/key.pem
  [ -f "$CERT" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$KEY" -out "$CERT" >"$TMP/openssl.log" 2>&1 || {
    diag_file "openssl req" "$TMP/openssl.log"
    return 1
  }
}

# ---- peers ------------------------------------------------------------------------------
NODE=(env "NODE_PATH=$WSC_NODE_DIR/node_modules" node)

# peer_tap LABEL NAME CMD...: run a peer check script (bounded by `timeout 60`). It prints
# `PLAN n`, then `PASS name` / `FAIL name: why` lines; each becomes one TAP test named
# "LABEL: name". Peers exit 0 once they ran their plan, whatever it found; one that stops
# early (crash, timeout, unexpected exception) adds one failure naming its exit status.
peer_tap() {
  local label=$1 name=$2 rc
  shift 2
  timeout 60 "$@" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
  peer_results "$label" "$name" "$rc"
}

# peer_results LABEL NAME RC: the TAP half of peer_tap, for a peer run with start_bg.
peer_results() {
  local label=$1 name=$2 rc=$3 plan=-1 seen=0 kind rest line
  while IFS= read -r line; do
    kind=${line%% *}
    rest=${line#* }
    case $kind in
      PLAN) plan=$rest ;;
      PASS) seen=$((seen + 1)); ok "$label: $rest" ;;
      FAIL) seen=$((seen + 1)); not_ok "$label: $rest" ;;
      *) diag "$name: $line" ;;
    esac
  done <"$TMP/$name.out"
  if [ "$rc" -ne 0 ] || [ "$plan" -lt 0 ] || [ "$seen" -ne "$plan" ]; then
    not_ok "$label: peer ran to completion (exit $rc$([ "$rc" -eq 124 ] && echo ', timed out'), $seen of $plan checks)"
    diag_file "$name stderr" "$TMP/$name.err"
  elif [ -s "$TMP/$name.err" ]; then
    diag_file "$name stderr" "$TMP/$name.err"
  fi
}

# feed INPUT OUTPUT [LINES]: print INPUT, then hold stdin open until OUTPUT has LINES lines
# (default: as many as INPUT), 20 s at most. A client that closes at stdin EOF then closes
# after its echoes came back, so the test does not depend on what it does with messages
# that arrive after it sent its close.
feed() {
  local want=${3:-$(wc -l <"$1")} i
  cat "$1"
  for ((i = 0; i < 400; i++)); do
    [ "$(wc -l 2>/dev/null <"$2" || echo 0)" -ge "$want" ] && return 0
    sleep 0.05
  done
}

# wait_for_line FILE REGEX [SECONDS]: wait until a line of FILE matches.
wait_for_line() {
  local file=$1 re=$2 limit=${3:-20} i
  for ((i = 0; i < limit * 20; i++)); do
    grep -qE "$re" "$file" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# http_head PORT REQUEST: send a raw request (printf %b escapes) on a fresh connection and
# put the response head (up to the blank line, CRs removed) in $TMP/http.head; sets
# HTTP_STATUS to the status code (empty when there was no answer within 5 s).
http_head() {
  local fd line
  HTTP_STATUS=
  : >"$TMP/http.head"
  exec {fd}<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf '%b' "$2" >&"$fd"
  while IFS= read -r -t 5 line <&"$fd"; do
    line=${line%$'\r'}
    [ -z "$line" ] && break
    printf '%s\n' "$line" >>"$TMP/http.head"
  done
  exec {fd}>&-
  HTTP_STATUS=$(head -n1 "$TMP/http.head" | awk '{print $2}')
}
