#!/usr/bin/env bash
# Independent clients against wsref-server: npm ws and Debian's python3-websockets echo text,
# binary, 64 KiB and 16 MiB messages byte-exact over ws:// and wss:// (self-signed
# certificate made here, verified by the clients), ping/pong, closing handshake 1000, and a
# permessage-deflate offer that is declined (or, once supported, negotiated).
. "$(dirname "$0")/lib.sh"
need_bins "$SERVER"

if start_wsref_server plain; then
  ok "wsref-server listens on $SERVER_URL"
  PLAIN_URL=$SERVER_URL PLAIN_PID=$SERVER_PID
else
  not_ok "wsref-server starts"
  done_testing
fi

TLS_URL=
if ! have_openssl; then
  skip "wss: openssl not installed (scripts/deps.sh installs it)"
elif ! make_cert; then
  not_ok "self-signed certificate for 127.0.0.1"
elif start_wsref_server tls --tls-cert "$CERT" --tls-key "$KEY"; then
  case $SERVER_URL in
    wss://*) ok "wsref-server with --tls-cert listens on $SERVER_URL"; TLS_URL=$SERVER_URL TLS_PID=$SERVER_PID ;;
    *) not_ok "wsref-server with --tls-cert says wss:// (said $SERVER_URL)" ;;
  esac
else
  not_ok "wsref-server starts with --tls-cert/--tls-key"
fi

# npm ws
if have_node_ws; then
  ver=$("${NODE[@]}" -p "require('ws/package.json').version")
  peer_tap "ws $ver ws://" node-plain "${NODE[@]}" "$PEERS/ws_client.js" "$PLAIN_URL/echo"
  peer_tap "ws $ver ws:// deflate offer" node-deflate "${NODE[@]}" "$PEERS/ws_client.js" "$PLAIN_URL/echo" --suite deflate
  if [ -n "$TLS_URL" ]; then
    peer_tap "ws $ver wss://" node-tls "${NODE[@]}" "$PEERS/ws_client.js" "$TLS_URL/echo" --ca "$CERT"
  else
    skip "ws wss://: no TLS server"
  fi
else
  reason=$(node_ws_reason)
  skip "ws ws://: $reason"
  skip "ws ws:// deflate offer: $reason"
  skip "ws wss://: $reason"
fi

# Debian python3-websockets
if have_python_websockets; then
  ver=$("$PY" -c 'import websockets; print(websockets.__version__)')
  peer_tap "python-websockets $ver ws://" py-plain "$PY" "$PEERS/py_client.py" "$PLAIN_URL/echo"
  peer_tap "python-websockets $ver ws:// deflate offer" py-deflate "$PY" "$PEERS/py_client.py" "$PLAIN_URL/echo" --suite deflate
  if [ -n "$TLS_URL" ]; then
    peer_tap "python-websockets $ver wss://" py-tls "$PY" "$PEERS/py_client.py" "$TLS_URL/echo" --ca "$CERT"
  else
    skip "python-websockets wss://: no TLS server"
  fi
else
  skip "python-websockets: python3-websockets not installed (scripts/deps.sh installs it)"
fi

# Both servers served every connection above; a clean shutdown ends the file.
stop_pid "$PLAIN_PID"
check "wsref-server (ws) exits 0 on SIGTERM (status $STOP_STATUS)" [ "$STOP_STATUS" -eq 0 ]
if [ -n "$TLS_URL" ]; then
  stop_pid "$TLS_PID"
  check "wsref-server (wss) exits 0 on SIGTERM (status $STOP_STATUS)" [ "$STOP_STATUS" -eq 0 ]
fi
[ "$_failed" -eq 0 ] || { diag_file "wsref-server stderr" "$TMP/plain.err"; diag_file "wsref-server (tls) stderr" "$TMP/tls.err"; }
done_testing
