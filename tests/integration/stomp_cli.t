#!/usr/bin/env bash
# wsref-client --stomp (app/stomp_client.h behind a command line) against the reference broker
# (wsref-server /stomp) and against RabbitMQ web-stomp (scripts/rabbitmq.sh; skipped with the
# reason when rabbitmq-server cannot be installed): CONNECT and version negotiation,
# SUBSCRIBE with receipt, SEND / MESSAGE with escaped headers, ACK (client-individual) and
# redelivery of the unacknowledged message, transactions, ERROR handling, heart-beats,
# graceful DISCONNECT; plus command-line errors, and a peer that does not speak STOMP.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/stomp_lib.sh"
need_bins "$CLIENT" "$SERVER"

RUN=$$-$RANDOM

# stomp NAME URL [ARGS...] < script: wsref-client --stomp, 60 s at most; stdout and stderr in
# $TMP/NAME.out/.err, one line per received frame in $TMP/NAME.frames
# ("COMMAND|name:value|...||body"), exit status in STOMP_RC.
stomp() {
  local name=$1
  shift
  timeout 60 "$CLIENT" --stomp "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  STOMP_RC=$?
  frames "$TMP/$name.out" >"$TMP/$name.frames"
}
frames() {
  awk '$0 == "^@" { print f; f = ""; hdr = 0; nb = 0; next }
       f == "" { f = $0; hdr = 1; next }
       hdr && $0 == "" { hdr = 0; f = f "||"; next }
       hdr { f = f "|" $0; next }
       { f = f (nb++ ? "\\n" : "") $0 }' "$1"
}
# has NAME REGEX [COUNT]: NAME's frame lines matching (extended) REGEX number COUNT (default:
# at least one).
has() {
  local n
  n=$(grep -cE -- "$2" "$TMP/$1.frames")
  if [ -n "${3:-}" ] && [ "$n" -eq "$3" ]; then return 0; fi
  if [ -z "${3:-}" ] && [ "$n" -ge 1 ]; then return 0; fi
  diag "$1: $n frames match /$2/, want ${3:-at least 1}; frames:"
  cut -c1-240 "$TMP/$1.frames" | sed 's/^/#   /' >&2
  diag_file "$1 stderr" "$TMP/$1.err"
  return 1
}
# has_headers NAME COMMAND STRING...: a COMMAND frame of NAME holds every |STRING| (fixed)
has_headers() {
  local name=$1 cmd=$2 line s ok
  shift 2
  while IFS= read -r line; do
    [ "${line%%|*}" = "$cmd" ] || continue
    ok=1
    for s in "$@"; do
      case $line in *"|$s|"*) ;; *) ok=0 ;; esac
    done
    [ "$ok" -eq 1 ] && return 0
  done <"$TMP/$name.frames"
  diag "$name: no $cmd frame with headers $*; frames:"
  cut -c1-240 "$TMP/$name.frames" | sed 's/^/#   /' >&2
  return 1
}
# rc_is NAME WANT
rc_is() {
  [ "$STOMP_RC" -eq "$2" ] && return 0
  diag "$1: exit status $STOMP_RC, want $2"
  diag_file "$1 stderr" "$TMP/$1.err"
  return 1
}
# order NAME BODY1 BODY2: the MESSAGE with BODY1 came before the one with BODY2
order() {
  local a b
  a=$(grep -nE "^MESSAGE\|.*\|\|$2\$" "$TMP/$1.frames" | head -n1 | cut -d: -f1)
  b=$(grep -nE "^MESSAGE\|.*\|\|$3\$" "$TMP/$1.frames" | head -n1 | cut -d: -f1)
  [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ] && return 0
  diag "$1: MESSAGE '$2' (frame ${a:-none}) not before '$3' (frame ${b:-none})"
  cut -c1-240 "$TMP/$1.frames" | sed 's/^/#   /' >&2
  return 1
}

# ---- command line (no server needed) -----------------------------------------------------
"$CLIENT" --help >"$TMP/help.out" 2>&1
help_ok() {
  grep -q -- '--stomp ' "$TMP/help.out" && grep -q 'subscribe DEST' "$TMP/help.out" &&
    grep -q 'wait COMMAND' "$TMP/help.out" && grep -q 'disconnect' "$TMP/help.out"
}
check "--help documents --stomp and its commands" help_ok
bad_args() { # bad_args NAME ARGS...: exit 2, one line on stderr
  local name=$1 rc
  shift
  timeout 10 "$CLIENT" "$@" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
  [ "$rc" -eq 2 ] && [ "$(wc -l <"$TMP/$name.err")" -eq 1 ] && return 0
  diag "wsref-client $*: exit $rc"
  diag_file "stderr" "$TMP/$name.err"
  return 1
}
check "--login without --stomp: exit 2" bad_args nostomp --login x ws://127.0.0.1:1/stomp
check "--heart-beat abc: exit 2" bad_args badhb --stomp --heart-beat abc ws://127.0.0.1:1/stomp
check "--heart-beat 1,: exit 2" bad_args badhb2 --stomp --heart-beat 1, ws://127.0.0.1:1/stomp
check "--accept-version 1.3: exit 2" bad_args badver --stomp --accept-version 1.3 ws://127.0.0.1:1/stomp

# ---- one scenario list, run against each broker ----------------------------------------
# scenarios LABEL URL [CLIENT ARGS...]
scenarios() {
  local label=$1 url=$2
  shift 2
  local q=/queue/wsc-cli-$RUN-$label t=/topic/wsc-cli-$RUN-$label

  # SUBSCRIBE with receipt, SEND, MESSAGE, ACK, DISCONNECT
  stomp "$label-basic" "$url" "$@" <<EOF
receipt
subscribe $q ack=client-individual
wait RECEIPT
header x-colon:a:b
header x-back:c\\d
send $q hello stomp
wait MESSAGE
receipt
ack
wait RECEIPT
EOF
  check "$label: CONNECTED with version:1.2" has "$label-basic" '^CONNECTED\|(.*\|)?version:1\.2\|' 1
  check "$label: RECEIPT for the SUBSCRIBE (receipt-id:r-1)" has "$label-basic" '^RECEIPT\|receipt-id:r-1\|\|$' 1
  check "$label: MESSAGE with the destination and the body" \
    has "$label-basic" "^MESSAGE\\|(.*\\|)?destination:$q\\|(.*\\|)?\\|hello stomp\$" 1
  check "$label: the MESSAGE has subscription:0" has "$label-basic" '^MESSAGE\|(.*\|)?subscription:0\|' 1
  check "$label: the MESSAGE has a message-id" has "$label-basic" '^MESSAGE\|(.*\|)?message-id:[^|]+\|' 1
  check "$label: the MESSAGE has an ack header (1.2, client-individual)" \
    has "$label-basic" '^MESSAGE\|(.*\|)?ack:[^|]+\|' 1
  # printed unescaped, with a backslash shown as \\
  check "$label: headers with ':' and '\\' round-trip" \
    has_headers "$label-basic" MESSAGE 'x-colon:a:b' 'x-back:c\\d'
  check "$label: RECEIPT for the ACK (receipt-id:r-2)" has "$label-basic" '^RECEIPT\|receipt-id:r-2\|\|$' 1
  check "$label: graceful disconnect, exit 0" rc_is "$label-basic" 0

  # The acknowledged message is gone; an unacknowledged one goes to the next subscriber.
  stomp "$label-ack1" "$url" "$@" <<EOF
receipt
subscribe $q-2 ack=client-individual
wait RECEIPT
send $q-2 first
send $q-2 second
wait MESSAGE 2
ack
EOF
  # acked the latest (second): the first is unacknowledged
  stomp "$label-ack2" "$url" "$@" <<EOF
subscribe $q-2 ack=client-individual
wait MESSAGE
sleep 500
ack
EOF
  check "$label: two MESSAGEs, ACK of the second only" has "$label-ack1" '^MESSAGE\|' 2
  check "$label: the next subscriber gets only the unacknowledged one" \
    has "$label-ack2" '^MESSAGE\|.*\|\|first$' 1
  check "$label: ... and not the acknowledged one" has "$label-ack2" '^MESSAGE\|' 1

  # Transactions: the SEND in the transaction arrives after COMMIT, the aborted one never.
  stomp "$label-tx" "$url" "$@" <<EOF
receipt
subscribe $t-tx
wait RECEIPT
begin tx1
header transaction:tx1
send $t-tx in-tx
begin tx2
header transaction:tx2
send $t-tx aborted
abort tx2
receipt
send $t-tx outside
wait RECEIPT
commit tx1
wait MESSAGE 2
sleep 300
EOF
  check "$label: transaction: committed SEND delivered after the plain one" order "$label-tx" outside in-tx
  check "$label: transaction: aborted SEND never delivered" has "$label-tx" '^MESSAGE\|.*\|\|aborted$' 0
  check "$label: transaction: exit 0" rc_is "$label-tx" 0

  # Versions 1.1 and 1.0
  stomp "$label-v11" "$url" "$@" --accept-version 1.1 --subprotocol v11.stomp <<EOF
receipt
subscribe $q-11 ack=client-individual
wait RECEIPT
send $q-11 eleven
wait MESSAGE
ack
EOF
  check "$label: --accept-version 1.1: CONNECTED version:1.1" has "$label-v11" '^CONNECTED\|(.*\|)?version:1\.1\|' 1
  check "$label: 1.1: MESSAGE received" has "$label-v11" '^MESSAGE\|.*\|\|eleven$' 1
  check "$label: 1.1: ACK (message-id + subscription) accepted, exit 0" rc_is "$label-v11" 0
  stomp "$label-v10" "$url" "$@" --accept-version 1.0 --subprotocol v10.stomp <<EOF
receipt
subscribe $q-10 ack=client
wait RECEIPT
send $q-10 ten
wait MESSAGE
ack
EOF
  check "$label: --accept-version 1.0: one CONNECTED" has "$label-v10" '^CONNECTED\|' 1
  check "$label: 1.0: CONNECTED says version:1.0 or nothing" \
    has "$label-v10" '^CONNECTED\|(.*\|)?version:1\.[12]\|' 0
  check "$label: 1.0: MESSAGE received" has "$label-v10" '^MESSAGE\|.*\|\|ten$' 1
  check "$label: 1.0: ACK (message-id) accepted, exit 0" rc_is "$label-v10" 0

  # An ERROR from the broker (a destination it does not serve): printed, then exit 1.
  stomp "$label-err" "$url" "$@" <<EOF
send /nowhere-$RUN x
wait ERROR
EOF
  check "$label: SEND to an unknown destination: ERROR frame printed" has "$label-err" '^ERROR\|' 1
  check "$label: ERROR: exit 1" rc_is "$label-err" 1
}

# ---- the reference broker ----------------------------------------------------------------
if ! have_stomp_server; then
  not_ok "wsref-server serves STOMP (its --help does not mention it)"
elif ! start_stomp_server ref; then
  not_ok "wsref-server starts"
else
  ok "wsref-server on $SERVER_URL"
  SERVER_URL_REF=$SERVER_URL
  scenarios ref "$STOMP_URL"

  # heart-beats: a server beating every 200 ms and wanting 200, a client offering 300,250:
  # 300 ms to send, 250 to expect (the larger of the two, HB-03); 1.5 s of silence survived
  # on both sides.
  if start_stomp_server ref-hb-srv --stomp-heartbeat 200,200; then
    stomp ref-hb "$STOMP_URL" --heart-beat 300,250 <<EOF
sleep 1500
EOF
    check "ref: heart-beats both ways: the session lives through 1.5 s idle, exit 0" rc_is ref-hb 0
    check "ref: heart-beat negotiated to 300 ms to send, 250 to expect" \
      grep -q 'heart-beat: send 300 ms, expect 250 ms' "$TMP/ref-hb.err"
    stop_pid "$SERVER_PID"
  else
    not_ok "wsref-server --stomp-heartbeat 200,200 starts"
  fi
  STOMP_URL=$SERVER_URL_REF/stomp

  # Spring's wire behaviour (--stomp-profile spring): no RECEIPT but for DISCONNECT,
  # content-length on every MESSAGE; a SUBSCRIBE cannot be confirmed, so wait a little.
  if start_stomp_server ref-spring --stomp-profile spring; then
    stomp ref-spring "$STOMP_URL" <<EOF
subscribe /topic/wsc-cli-$RUN-spring
sleep 300
send /topic/wsc-cli-$RUN-spring hello spring
wait MESSAGE
EOF
    check "ref spring profile: CONNECTED version:1.2" has ref-spring '^CONNECTED\|(.*\|)?version:1\.2\|' 1
    check "ref spring profile: MESSAGE received" has ref-spring '^MESSAGE\|.*\|\|hello spring$' 1
    check "ref spring profile: RECEIPT for DISCONNECT (receipt-id:r-1)" \
      has ref-spring '^RECEIPT\|receipt-id:r-1\|\|$' 1
    check "ref spring profile: exit 0" rc_is ref-spring 0
    stop_pid "$SERVER_PID"
  else
    not_ok "wsref-server --stomp-profile spring starts"
  fi
  STOMP_URL=$SERVER_URL_REF/stomp

  # DISCONNECT's RECEIPT is printed
  stomp ref-disc "$STOMP_URL" </dev/null
  check "ref: DISCONNECT at end of stdin gets its RECEIPT (receipt-id:r-1)" \
    has ref-disc '^RECEIPT\|receipt-id:r-1\|\|$' 1
  check "ref: exit 0" rc_is ref-disc 0

  # A WebSocket peer that is not a STOMP broker (/echo sends our CONNECT back): a protocol
  # error, not a hang.
  stomp echo "$SERVER_URL_REF/echo" </dev/null
  check "a non-STOMP peer (/echo): exit 1, no hang (got $STOMP_RC)" \
    [ "$STOMP_RC" -eq 1 ]
  check "a non-STOMP peer: the failure is named on stderr" grep -q 'STOMP session failed' "$TMP/echo.err"
fi

# ---- RabbitMQ ------------------------------------------------------------------------------
why=$(rabbitmq_unavailable)
if [ -n "$why" ]; then
  skip "RabbitMQ: $why"
elif ! start_rabbitmq rabbit; then
  not_ok "RabbitMQ (scripts/rabbitmq.sh) starts"
  diag_file "rabbitmq.sh stderr" "$TMP/rabbit.err"
else
  ok "RabbitMQ web-stomp on $RABBIT_URL"
  scenarios rabbit "$RABBIT_URL" "${RABBIT_STOMP_ARGS[@]}"
  stop_rabbitmq
  check "RabbitMQ stops on SIGTERM (exit $STOP_STATUS)" [ "$STOP_STATUS" -ne 124 ]
fi

done_testing
