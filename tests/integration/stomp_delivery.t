#!/usr/bin/env bash
# Queue delivery guarantee of the reference broker (wsref-server /stomp), driven by our own
# STOMP client (bench/stomp_delivery.c over app/stomp_client.h): a publisher sends 2000
# numbered messages to a /queue; consumers with ack:client-individual acknowledge each one
# with a receipt; six of them disconnect mid-stream (three abruptly, three gracefully) holding
# unacknowledged messages and are replaced. Every delivery is counted: each message must be
# acknowledged exactly once in all, never delivered again after its ACK's RECEIPT, never given
# to a second consumer while the first still has it, and every message a departing consumer
# held must be delivered again.
#
# Several shapes (prefetch 20 / 1 / none, more consumers, 1.2 only) and seeds; the same driver
# against RabbitMQ web-stomp as a control (skipped with the reason when rabbitmq-server cannot
# be installed), so a FAIL on ours is not a bug of the driver.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/stomp_lib.sh"
need_bins "$SERVER" "$STOMP_DELIVERY"
have_stomp_server || bail "wsref-server does not serve STOMP (its --help does not mention it)"

# delivery LABEL NAME URL [ARGS...]: one driver run (90 s at most) as TAP tests
delivery() {
  local label=$1 name=$2 url=$3
  shift 3
  peer_tap_long "$label" "$name" "$STOMP_DELIVERY" "$url" --time-limit 60 "$@"
}
# peer_tap with a longer bound than lib.sh's 60 s
peer_tap_long() {
  local label=$1 name=$2 rc
  shift 2
  timeout 90 "$@" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
  peer_results "$label" "$name" "$rc"
}

if start_stomp_server ref; then
  ok "wsref-server on $SERVER_URL"
  delivery "ref, prefetch 20" d1 "$STOMP_URL" --seed 1
  delivery "ref, prefetch 1, 8 consumers" d2 "$STOMP_URL" --seed 2 --prefetch 1 --consumers 8
  # Without prefetch-count a consumer takes everything waiting: departures hand back
  # (and redeliver) large batches.
  delivery "ref, no prefetch-count, seed 3" d3 "$STOMP_URL" --seed 3 --prefetch 0 --kills 4
  delivery "ref, no prefetch-count, seed 7" d5 "$STOMP_URL" --seed 7 --prefetch 0 --kills 4
  delivery "ref, 10 disconnects, 256-byte bodies" d4 "$STOMP_URL" --seed 4 --kills 10 --body-size 256
  stop_pid "$SERVER_PID"
  if [ "$STOP_STATUS" -eq 0 ]; then
    ok "wsref-server exits 0 on SIGTERM after the runs"
  else
    not_ok "wsref-server exits 0 on SIGTERM after the runs (exit $STOP_STATUS)"
    diag_file "wsref-server stderr" "$TMP/ref.err"
  fi
else
  not_ok "wsref-server starts"
fi

why=$(rabbitmq_unavailable)
if [ -n "$why" ]; then
  skip "RabbitMQ control run: $why"
elif ! start_rabbitmq rabbit; then
  not_ok "RabbitMQ (scripts/rabbitmq.sh) starts"
  diag_file "rabbitmq.sh stderr" "$TMP/rabbit.err"
else
  ok "RabbitMQ web-stomp on $RABBIT_URL"
  delivery "RabbitMQ control, prefetch 20" r1 "$RABBIT_URL" --seed 1 --host / --login guest --passcode guest
  stop_rabbitmq
fi

done_testing
