#!/usr/bin/env bash
# wsref-server as a program: command-line errors, the listening line, the opening handshake's
# answers seen on the wire, its paths (/echo, /echo-partial, /text), --max-message, and
# SIGTERM with a client connected (the client sees close 1001, the server exits 0).
. "$(dirname "$0")/lib.sh"
need_bins "$SERVER"

# ---- command line -----------------------------------------------------------------------
bad_flag() { # bad_flag NAME ARGS...: exit 2, one line on stderr, nothing on stdout
  local name=$1 rc lines
  shift
  timeout 10 "$SERVER" "$@" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
  lines=$(wc -l <"$TMP/$name.err")
  if [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ] && [ ! -s "$TMP/$name.out" ]; then return 0; fi
  diag "wsref-server $*: exit $rc, $lines stderr lines, $(wc -c <"$TMP/$name.out") stdout bytes"
  diag_file "stderr" "$TMP/$name.err"
  return 1
}
check "unknown flag: exit 2 with one line on stderr" bad_flag unknown --port 0 --no-such-flag
check "--port without a value: exit 2 with one line on stderr" bad_flag noval --port
check "--port abc: exit 2 with one line on stderr" bad_flag nan --port abc

# ---- listening line ---------------------------------------------------------------------
if start_wsref_server srv; then
  ok "--port 0: prints 'listening on $SERVER_URL'"
else
  not_ok "--port 0: prints a listening line"
  done_testing
fi
PORT=${SERVER_URL##*:} SRV_PID=$SERVER_PID
check "the listening line names a real port ($PORT)" [ "$PORT" -gt 0 ] 2>/dev/null

# ---- opening handshake on the wire ------------------------------------------------------
HS='Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
KEY='Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
http_head "$PORT" "GET /echo HTTP/1.1\r\n${HS}${KEY}Sec-WebSocket-Version: 13\r\n\r\n"
check "handshake: 101 for a valid request (got '$HTTP_STATUS')" [ "$HTTP_STATUS" = 101 ]
check "handshake: Sec-WebSocket-Accept is RFC 6455's example value" \
  grep -qi '^Sec-WebSocket-Accept: *s3pPLMBiTxaQ9kYGzzhZRbK+xOo= *$' "$TMP/http.head"
check "handshake: no Sec-WebSocket-Extensions when none was offered" \
  bash -c "! grep -qi '^Sec-WebSocket-Extensions' '$TMP/http.head'"

http_head "$PORT" "GET /echo HTTP/1.1\r\n${HS}${KEY}Sec-WebSocket-Version: 8\r\n\r\n"
check "handshake: version 8 gets 426 (got '$HTTP_STATUS')" [ "$HTTP_STATUS" = 426 ]
check "handshake: the 426 lists Sec-WebSocket-Version 13" \
  grep -qiE '^Sec-WebSocket-Version: *(.*[ ,])?13( *,.*)? *$' "$TMP/http.head"

http_head "$PORT" "GET /no-such-path HTTP/1.1\r\n${HS}${KEY}Sec-WebSocket-Version: 13\r\n\r\n"
check "handshake: unknown path gets 404 (got '$HTTP_STATUS')" [ "$HTTP_STATUS" = 404 ]

http_head "$PORT" "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n${KEY}Sec-WebSocket-Version: 13\r\n\r\n"
check "handshake: no Upgrade header gets 400 or 426, not 101 (got '$HTTP_STATUS')" \
  [ "$HTTP_STATUS" = 400 -o "$HTTP_STATUS" = 426 ]

http_head "$PORT" "POST /echo HTTP/1.1\r\n${HS}${KEY}Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"
check "handshake: POST gets 4xx (got '$HTTP_STATUS')" [ "${HTTP_STATUS:0:1}" = 4 ]

# ---- paths, with an independent client ---------------------------------------------------
if have_python_websockets; then
  peer_tap "python-websockets /echo-partial" py-partial "$PY" "$PEERS/py_client.py" "$SERVER_URL/echo-partial"
  peer_tap "python-websockets /text" py-text "$PY" "$PEERS/py_client.py" "$SERVER_URL/text" --suite text-only

  if start_wsref_server small --max-message 1024; then
    peer_tap "--max-message 1024" py-big "$PY" "$PEERS/py_client.py" "$SERVER_URL/echo" --suite too-big
    stop_pid "$SERVER_PID"
  else
    not_ok "wsref-server starts with --max-message 1024"
  fi

  # SIGTERM with a client connected
  if start_wsref_server term; then
    start_bg waitclose timeout 60 "$PY" "$PEERS/py_client.py" "$SERVER_URL/echo" --suite wait-close
    cpid=$BG_PID
    if wait_for_line "$TMP/waitclose.out" '^(PASS|FAIL) echo before shutdown' 20; then
      stop_pid "$SERVER_PID" 10
      check "SIGTERM with a client connected: server exits 0 (status $STOP_STATUS)" [ "$STOP_STATUS" -eq 0 ]
    else
      not_ok "SIGTERM: the client connected and got an echo"
    fi
    wait "$cpid"
    peer_results "SIGTERM, client" waitclose $?
  else
    not_ok "wsref-server starts (SIGTERM test)"
  fi
else
  skip "python-websockets: python3-websockets not installed (scripts/deps.sh installs it)"
fi

stop_pid "$SRV_PID"
check "SIGTERM with no client: server exits 0 (status $STOP_STATUS)" [ "$STOP_STATUS" -eq 0 ]
done_testing
