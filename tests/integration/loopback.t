#!/usr/bin/env bash
# wsref-client against wsref-server, over ws:// and wss:// (--cacert): lines echoed in order,
# clean exit on stdin EOF, the /text path refusing --binary.
. "$(dirname "$0")/lib.sh"
need_bins "$SERVER" "$CLIENT"

run_client() { # run_client NAME URL [ARGS...] < input; sets CLIENT_RC
  local name=$1
  shift
  timeout 60 "$CLIENT" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  CLIENT_RC=$?
  [ "$CLIENT_RC" -eq 0 ] || { diag "$name: exit $CLIENT_RC"; diag_file "$name stderr" "$TMP/$name.err"; }
}
same() { # same NAME INPUT
  cmp -s "$2" "$TMP/$1.out" && return 0
  diag "$1: output differs from input:"
  diff "$2" "$TMP/$1.out" | head -n 10 | cut -c1-200 | sed 's/^/#   /' >&2
  return 1
}

printf '%s\n' 'Hello' 'héllo ✓ 𝄞 €' 'x' '{"a": 1}' 'the end' >"$TMP/lines.in"
seq 1 2000 >"$TMP/many.in"

if start_wsref_server plain; then
  ok "wsref-server listens on $SERVER_URL"
  feed "$TMP/lines.in" "$TMP/echo.out" | run_client echo "$SERVER_URL/echo"
  check "ws: lines echoed byte-exact" same echo "$TMP/lines.in"
  check "ws: client exits 0 after stdin EOF" [ "$CLIENT_RC" -eq 0 ]
  feed "$TMP/many.in" "$TMP/many.out" | run_client many "$SERVER_URL/echo"
  check "ws: 2000 lines echoed in order" same many "$TMP/many.in"
  check "ws: 2000 lines: exit 0" [ "$CLIENT_RC" -eq 0 ]
  feed "$TMP/lines.in" "$TMP/partial.out" | run_client partial "$SERVER_URL/echo-partial"
  check "ws /echo-partial: lines echoed" same partial "$TMP/lines.in"
  feed "$TMP/lines.in" "$TMP/text.out" | run_client text "$SERVER_URL/text"
  check "ws /text: text lines echoed" same text "$TMP/lines.in"
  # wsref-server sends its echoes before its close frame: a client that closes at stdin EOF
  # still receives them and should print them (only what follows the server's close may be
  # dropped).
  run_client drain "$SERVER_URL/echo" <"$TMP/lines.in"
  check "ws: stdin EOF right after the lines: the echoes sent before the server's close are printed" \
    same drain "$TMP/lines.in"
  timeout 60 "$CLIENT" "$SERVER_URL/text" --binary <"$TMP/lines.in" >"$TMP/textbin.out" 2>"$TMP/textbin.err"
  rc=$?
  check "ws /text --binary: refused (close 1003), nothing echoed, no hang (exit $rc)" \
    [ "$rc" -ne 124 -a ! -s "$TMP/textbin.out" ]
  stop_pid "$SERVER_PID"
  check "wsref-server exits 0 on SIGTERM (status $STOP_STATUS)" [ "$STOP_STATUS" -eq 0 ]
else
  not_ok "wsref-server starts"
fi

if ! have_openssl; then
  skip "wss: openssl not installed (scripts/deps.sh installs it)"
elif ! make_cert; then
  not_ok "self-signed certificate for 127.0.0.1"
elif start_wsref_server tls --tls-cert "$CERT" --tls-key "$KEY"; then
  ok "wsref-server listens on $SERVER_URL"
  feed "$TMP/lines.in" "$TMP/wss.out" | run_client wss "$SERVER_URL/echo" --cacert "$CERT"
  check "wss --cacert: lines echoed byte-exact" same wss "$TMP/lines.in"
  check "wss --cacert: exit 0" [ "$CLIENT_RC" -eq 0 ]
  feed "$TMP/many.in" "$TMP/wss-many.out" | run_client wss-many "$SERVER_URL/echo" --cacert "$CERT"
  check "wss: 2000 lines echoed in order" same wss-many "$TMP/many.in"
  stop_pid "$SERVER_PID"
  check "wsref-server (wss) exits 0 on SIGTERM (status $STOP_STATUS)" [ "$STOP_STATUS" -eq 0 ]
else
  not_ok "wsref-server starts with --tls-cert/--tls-key"
fi
done_testing
