#!/usr/bin/env bash
# wsref-client against an independent server (Debian's python3-websockets, our script
# peers/py_echo_server.py): stdin lines are echoed back one per line, stdin EOF gives a clean
# close 1000 and exit 0; wss with --cacert (and its failure without), --insecure, --subprotocol,
# --header, --origin, --binary, and --proxy through an HTTP CONNECT proxy.
. "$(dirname "$0")/lib.sh"
need_bins "$CLIENT"
have_python_websockets || skip_all "python3-websockets not installed (scripts/deps.sh installs it)"

# client NAME URL [ARGS...] < input: run wsref-client (60 s at most); output in
# $TMP/NAME.out/.err, exit status in CLIENT_RC.
client() {
  local name=$1
  shift
  timeout 60 "$CLIENT" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  CLIENT_RC=$?
}
# same_output NAME INPUTFILE: the client printed exactly the input lines.
same_output() {
  if cmp -s "$2" "$TMP/$1.out"; then return 0; fi
  diag "$1: output differs from input:"
  diff "$2" "$TMP/$1.out" | head -n 10 | cut -c1-200 | sed 's/^/#   /' >&2
  diag_file "$1 stderr" "$TMP/$1.err"
  return 1
}
exit0() { # exit0 NAME: the client exited 0 (shows its stderr otherwise)
  [ "$CLIENT_RC" -eq 0 ] && return 0
  diag "$1: exit status $CLIENT_RC"
  diag_file "$1 stderr" "$TMP/$1.err"
  return 1
}
# closes_seen SERVERNAME N: the server logged N closes with code 1000 in all
closes_seen() {
  local i
  for ((i = 0; i < 100; i++)); do
    [ "$(grep -c '^closed 1000' "$TMP/$1.out")" -ge "$2" ] && return 0
    sleep 0.05
  done
  diag "$1 saw $(grep -c '^closed 1000' "$TMP/$1.out") closes with 1000, want $2:"
  grep '^closed' "$TMP/$1.out" | sed 's/^/#   /' >&2
  return 1
}

start_bg pyws timeout 600 "$PY" "$PEERS/py_echo_server.py" --subprotocols chat,v2.chat
if wait_listen pyws "$BG_PID"; then
  URL=$LISTEN_URL
  ok "python-websockets echo server on $URL"
else
  not_ok "python-websockets echo server starts"
  done_testing
fi

# Text lines, UTF-8 included; one message per line each way.
printf '%s\n' 'Hello' 'h\u00e9llo' 'héllo ✓ 𝄞 €' 'a line with  two  spaces and a tab	here' \
  '{"json": [1, 2, 3]}' 'last line' >"$TMP/lines.in"
feed "$TMP/lines.in" "$TMP/echo.out" | client echo "$URL/echo"
check "ws: 6 text lines echoed in order, byte-exact" same_output echo "$TMP/lines.in"
check "ws: exit 0 after stdin EOF" exit0 echo
check "ws: the server got close 1000" closes_seen pyws 1

seq 1 1000 | sed 's/$/ the quick brown fox/' >"$TMP/many.in"
feed "$TMP/many.in" "$TMP/many.out" | client many "$URL/echo"
check "ws: 1000 lines echoed in order" same_output many "$TMP/many.in"
check "ws: 1000 lines: exit 0" exit0 many

head -c 150000 /dev/zero | tr '\0' 'x' >"$TMP/long.in"
echo >>"$TMP/long.in"
feed "$TMP/long.in" "$TMP/long.out" | client long "$URL/echo"
check "ws: one 150000-byte line echoed" same_output long "$TMP/long.in"
check "ws: long line: exit 0" exit0 long
check "ws: the server got close 1000 from each client" closes_seen pyws 3

# Handshake options, as the server saw them (first message from /info is a JSON report).
echo ping >"$TMP/one.in"
feed "$TMP/one.in" "$TMP/info.out" 2 |
  client info "$URL/info" --subprotocol chat --header 'X-Test: yes 42' --origin http://origin.test
info_has() { # info_has KEY VALUE
  "$PY" -c 'import json,sys; d=json.loads(open(sys.argv[1]).readline()); sys.exit(d.get(sys.argv[2]) != sys.argv[3])' \
    "$TMP/info.out" "$1" "$2" || { diag "/info said: $(head -n1 "$TMP/info.out")"; diag_file "client stderr" "$TMP/info.err"; return 1; }
}
check "--subprotocol chat is negotiated" info_has subprotocol chat
check "--header 'X-Test: yes 42' is sent" info_has x_test "yes 42"
check "--origin http://origin.test is sent" info_has origin http://origin.test
check "/info: then the line is echoed" [ "$(sed -n 2p "$TMP/info.out")" = ping ]
check "/info: exit 0" exit0 info

feed "$TMP/one.in" "$TMP/type-text.out" | client type-text "$URL/type"
check "lines go out as text messages by default" [ "$(cat "$TMP/type-text.out")" = text ]
feed "$TMP/one.in" "$TMP/type-bin.out" | client type-bin "$URL/type" --binary
check "--binary: lines go out as binary messages" [ "$(cat "$TMP/type-bin.out")" = binary ]

# A server that is gone: the client fails, it does not hang.
start_bg gone timeout 60 "$PY" "$PEERS/py_echo_server.py"
if wait_listen gone "$BG_PID"; then
  gone_url=$LISTEN_URL
  stop_pid "$BG_PID"
  client refused "$gone_url/echo" <"$TMP/one.in"
  check "connection refused: non-zero exit (got $CLIENT_RC), no output" \
    [ "$CLIENT_RC" -ne 0 -a "$CLIENT_RC" -ne 124 -a ! -s "$TMP/refused.out" ]
else
  not_ok "second python server starts"
fi

# HTTP CONNECT proxy
start_bg proxy timeout 600 "$PY" "$PEERS/py_connect_proxy.py"
if wait_listen proxy "$BG_PID"; then
  PROXY_URL=$LISTEN_URL
  feed "$TMP/lines.in" "$TMP/proxied.out" | client proxied "$URL/echo" --proxy "$PROXY_URL"
  check "--proxy: lines echoed through the CONNECT tunnel" same_output proxied "$TMP/lines.in"
  check "--proxy: exit 0" exit0 proxied
  check "--proxy: the proxy saw CONNECT 127.0.0.1:${URL##*:}" \
    grep -q "^CONNECT 127.0.0.1:${URL##*:}\$" "$TMP/proxy.out"
else
  not_ok "CONNECT proxy starts"
fi

# wss against a python TLS server
if ! have_openssl; then
  skip "wss: openssl not installed (scripts/deps.sh installs it)"
elif ! make_cert; then
  not_ok "self-signed certificate for 127.0.0.1"
else
  start_bg pywss timeout 600 "$PY" "$PEERS/py_echo_server.py" --cert "$CERT" --key "$KEY"
  if wait_listen pywss "$BG_PID"; then
    WSS=$LISTEN_URL
    feed "$TMP/lines.in" "$TMP/wss.out" | client wss "$WSS/echo" --cacert "$CERT"
    check "wss --cacert: lines echoed" same_output wss "$TMP/lines.in"
    check "wss --cacert: exit 0" exit0 wss
    client wss-noca "$WSS/echo" <"$TMP/lines.in"
    check "wss without --cacert: certificate refused, non-zero exit (got $CLIENT_RC), no output" \
      [ "$CLIENT_RC" -ne 0 -a "$CLIENT_RC" -ne 124 -a ! -s "$TMP/wss-noca.out" ]
    feed "$TMP/lines.in" "$TMP/wss-insecure.out" | client wss-insecure "$WSS/echo" --insecure
    check "wss --insecure: lines echoed" same_output wss-insecure "$TMP/lines.in"
    check "wss: the TLS server got close 1000 twice" closes_seen pywss 2
  else
    not_ok "python-websockets TLS server starts"
  fi
fi

done_testing
