#!/usr/bin/env bash
# The README's embedding example: the code block in README.md is examples/hello.c verbatim,
# it builds, and it behaves as the README says (interceptor rejects, handler greets).
. "$(dirname "$0")/lib.sh"
HELLO=$WSC_BUILD/examples/hello
need_bins "$HELLO" "$CLIENT"

# The README block between the ```c fence after "examples/hello.c" and the closing fence.
awk '/^<!-- example: examples\/hello.c -->/{f=1; next} f&&/^```c/{next} f&&/^```/{exit} f' \
  "$ROOT/README.md" >"$TMP/readme.c"
check "README example is examples/hello.c verbatim" cmp -s "$TMP/readme.c" "$ROOT/examples/hello.c"
lines=$(wc -l <"$ROOT/examples/hello.c")
check "example is under 40 lines ($lines)" test "$lines" -lt 40

start_bg hello "$HELLO"
HELLO_PID=$BG_PID
if wait_listen hello "$HELLO_PID"; then
  out=$(printf 'hi\n' | timeout 20 "$CLIENT" --header 'X-Name: ada' "$LISTEN_URL/greet" 2>"$TMP/c1.err")
  check "handler greets with the interceptor's attribute" test "$out" = "hello ada, you said hi"
  timeout 20 "$CLIENT" "$LISTEN_URL/greet" </dev/null >/dev/null 2>"$TMP/c2.err"
  rc=$?
  if [ "$rc" -ne 0 ] && grep -q 401 "$TMP/c2.err"; then
    ok "interceptor rejects a client without X-Name (401)"
  else
    not_ok "interceptor rejects a client without X-Name (401)"
    diag "client exit $rc"; diag_file "client stderr" "$TMP/c2.err"
  fi
  stop_pid "$HELLO_PID"
  check "example exits 0 on SIGTERM" test "$STOP_STATUS" -eq 0
else
  not_ok "example starts"
fi
done_testing
