#!/usr/bin/env bash
# The benchmark's load client (build/bench/load) against wsref-server and the npm ws echo
# server, briefly: many connections each with a message in flight, checked echoes (type,
# length, bytes), clean closes; idle connections held open. Keeps `make bench` from rotting
# and puts wsref-server under concurrent load in every test run.
. "$(dirname "$0")/lib.sh"
LOAD=$WSC_BUILD/bench/load
need_bins "$SERVER" "$LOAD"

# load_ok NAME ARGS...: run the load client; ok when it exits 0 and its RESULT line shows
# round trips and no failure, wrong echo or unclean close.
load_ok() {
  local name=$1 res
  shift
  timeout 60 "$LOAD" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  local rc=$?
  res=$(grep '^RESULT' "$TMP/$name.out" | tail -n1)
  if [ "$rc" -eq 0 ] && [[ $res == *" failed=0 "* ]] && [[ $res == *" mismatches=0 "* ]] &&
    [[ $res == *" unclosed=0"* ]] && [[ $res != *" round_trips=0 "* ]]; then
    return 0
  fi
  diag "load $*: exit $rc: ${res:-no RESULT line}"
  diag_file "load stderr" "$TMP/$name.err"
  return 1
}

if start_wsref_server srv --quiet; then
  ok "wsref-server listens on $SERVER_URL"
  PORT=${SERVER_URL##*:}
  check "50 connections, 512 B text, one in flight each, echoes exact" \
    load_ok text --port "$PORT" --path /echo --conns 50 --duration 1 --warmup 0.2
  check "10 connections, 70000 B binary (64-bit length), echoes exact" \
    load_ok bin --port "$PORT" --path /echo --conns 10 --size 70000 --binary --duration 1 --warmup 0.2
  check "20 connections, empty text messages" \
    load_ok empty --port "$PORT" --path /echo --conns 20 --size 0 --duration 0.5 --warmup 0.1
  check "/echo-partial: 10 connections, 200 KiB binary" \
    load_ok partial --port "$PORT" --path /echo-partial --conns 10 --size 204800 --binary --duration 1 --warmup 0.2
  timeout 60 "$LOAD" --port "$PORT" --idle 300 --hold 0.5 >"$TMP/idle.out" 2>"$TMP/idle.err"
  check "300 idle connections opened and held (exit $?)" grep -q '^RESULT mode=idle conns=300 open_at_end=300 failed=0' "$TMP/idle.out"
  stop_pid "$SERVER_PID"
  check "wsref-server exits 0 on SIGTERM after the load (status $STOP_STATUS)" [ "$STOP_STATUS" -eq 0 ]
  [ "$STOP_STATUS" -eq 0 ] || diag_file "wsref-server stderr" "$TMP/srv.err"
else
  not_ok "wsref-server starts"
fi

# The same client against an independent server: the load client's own framing is right.
if have_node_ws; then
  start_bg ws "${NODE[@]}" "$PEERS/ws_echo_server.js"
  if wait_listen ws "$BG_PID"; then
    check "against ws: 20 connections, 512 B text, echoes exact" \
      load_ok ws --port "$LISTEN_PORT" --path / --conns 20 --duration 0.5 --warmup 0.1
  else
    not_ok "ws echo server starts"
  fi
else
  skip "against ws: $(node_ws_reason)"
fi
done_testing
