#!/usr/bin/env bash
# A real, independent STOMP client against the reference broker: @stomp/stompjs 7.5.0 (npm,
# over the npm ws client; peers/stompjs_check.js) connects to wsref-server's /stomp,
# subscribes with a receipt, sends and receives (UTF-8 text with headers that need escaping,
# a binary body with NULs), acknowledges with ack:client-individual (the unacknowledged
# message goes to the next subscriber, the acknowledged ones do not), uses transactions and
# heart-beats, and disconnects with a receipt. Once in the spec profile (the default) and
# once with the server's heart-beat at 300 ms.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/stomp_lib.sh"
need_bins "$SERVER"
have_node_stompjs || skip_all "$(node_stompjs_reason)"
have_stomp_server || bail "wsref-server does not serve STOMP (its --help does not mention it)"

if start_stomp_server ref; then
  ok "wsref-server on $SERVER_URL"
  peer_tap "stompjs" stompjs "${NODE[@]}" "$PEERS/stompjs_check.js" "$STOMP_URL"
  stop_pid "$SERVER_PID"
  if [ "$STOP_STATUS" -eq 0 ]; then
    ok "wsref-server exits 0 on SIGTERM after the stompjs sessions"
  else
    not_ok "wsref-server exits 0 on SIGTERM after the stompjs sessions (exit $STOP_STATUS)"
    diag_file "wsref-server stderr" "$TMP/ref.err"
  fi
else
  not_ok "wsref-server starts"
fi

if start_stomp_server ref-hb --stomp-heartbeat 300,300; then
  ok "wsref-server --stomp-heartbeat 300,300 on $SERVER_URL"
  peer_tap "stompjs, server heart-beat 300,300" stompjs-hb "${NODE[@]}" "$PEERS/stompjs_check.js" "$STOMP_URL"
else
  not_ok "wsref-server --stomp-heartbeat 300,300 starts"
fi

done_testing
