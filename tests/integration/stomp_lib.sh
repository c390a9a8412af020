# shellcheck shell=bash disable=SC2034 # variables for the .t files that source this
# STOMP helpers for tests/integration/stomp_*.t, sourced after lib.sh.
#
# The reference broker is wsref-server's /stomp endpoint; RabbitMQ (Debian's rabbitmq-server
# with web-stomp) runs from scripts/rabbitmq.sh, which installs it when it is missing and we
# are root, on ports chosen here, with its state in a temporary folder it deletes on exit.

RABBITMQ_SH=$ROOT/scripts/rabbitmq.sh
STOMP_DELIVERY=$WSC_BUILD/bench/stomp_delivery

# have_stomp_server: wsref-server serves STOMP (its --help says so).
have_stomp_server() {
  "$SERVER" --help 2>&1 | grep -qi stomp
}

# start_stomp_server NAME [ARGS...]: wsref-server on a free port; sets STOMP_URL
# (ws://127.0.0.1:PORT/stomp) besides SERVER_PID / SERVER_URL.
start_stomp_server() {
  start_wsref_server "$@" || return 1
  STOMP_URL=$SERVER_URL/stomp
}

have_node_stompjs() {
  have_node_ws && [ -f "$WSC_NODE_DIR/node_modules/@stomp/stompjs/package.json" ]
}
node_stompjs_reason() {
  command -v node >/dev/null 2>&1 || { echo "node not installed (scripts/deps.sh installs nodejs)"; return; }
  echo "npm packages ws and @stomp/stompjs not installed in $WSC_NODE_DIR (scripts/deps.sh installs them; npm registry unreachable?)"
}

# rabbitmq_unavailable: prints why RabbitMQ cannot run here (nothing if it can): not
# installed and not installable by us (scripts/rabbitmq.sh installs it when we are root).
rabbitmq_unavailable() {
  if dpkg-query -W -f='${Status}' rabbitmq-server 2>/dev/null | grep -q 'install ok installed'; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "rabbitmq-server not installed and not root (scripts/deps.sh installs it)"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || echo "rabbitmq-server not installed and no apt-get"
}

# free_port_triple: a port P with P, P+1 and P+2 free on 127.0.0.1 (RabbitMQ uses all three).
free_port_triple() {
  local i p
  for ((i = 0; i < 50; i++)); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if ! ss -Hltn "( sport = :$p or sport = :$((p + 1)) or sport = :$((p + 2)) )" 2>/dev/null | grep -q .; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# start_rabbitmq NAME: start RabbitMQ (installing it if need be, within 10 minutes; a cold
# start takes seconds); sets RABBIT_PID and RABBIT_URL (ws://127.0.0.1:PORT/ws). Returns 1
# with diagnostics when it did not come up. Callers first check rabbitmq_unavailable.
start_rabbitmq() {
  local name=$1 port attempt
  # Two attempts on fresh ports: the Erlang VM now and then fails to start its distribution
  # ("nodistribution", seen once in CI) although the ports were free a moment before.
  for attempt in 1 2; do
    port=$(free_port_triple) || { diag "no free port for RabbitMQ"; return 1; }
    start_bg "$name" timeout 900 "$RABBITMQ_SH" "$port"
    RABBIT_PID=$BG_PID
    # an install may come first (apt-get, bounded by scripts/rabbitmq.sh)
    if wait_listen "$name" "$RABBIT_PID" 700; then
      RABBIT_URL=$LISTEN_URL/ws
      return 0
    fi
    stop_rabbitmq
    [ "$attempt" -eq 1 ] && diag "RabbitMQ did not start on port $port; trying once more"
  done
  return 1
}

# stop_rabbitmq: SIGTERM (scripts/rabbitmq.sh stops the broker and its helpers, removes its
# state), bounded.
stop_rabbitmq() {
  [ -n "${RABBIT_PID:-}" ] || return 0
  stop_pid "$RABBIT_PID" 15
  RABBIT_PID=
}

# RabbitMQ's STOMP login: vhost / (the host header), guest/guest (allowed from loopback).
RABBIT_STOMP_ARGS=(--stomp-host / --login guest --passcode guest)
