#!/usr/bin/env bash
# RabbitMQ (Debian's rabbitmq-server) with rabbitmq_web_stomp, for the STOMP integration tests
# and benchmarks: STOMP over WebSocket at ws://127.0.0.1:PORT/ws, login guest/guest, vhost /
# (send `host:/`).
#
# usage: scripts/rabbitmq.sh PORT
#
# Runs in the foreground until SIGTERM/SIGINT, then stops everything it started (the Erlang VM,
# its helpers and a private epmd) and deletes its state. Prints `listening on
# ws://127.0.0.1:PORT` once the web-stomp listener accepts connections (what
# tests/integration/lib.sh's wait_listen looks for); exits non-zero with a reason if
# rabbitmq-server is not installed and cannot be, or if the broker stops early.
#
# Everything stays on loopback, and nothing is shared with another RabbitMQ on the machine:
# AMQP and plain STOMP listeners are off, Erlang distribution uses 127.0.0.1:PORT+1, and a
# private epmd runs on 127.0.0.1:PORT+2 (not the shared 4369). State (mnesia, cookie, config,
# logs) lives in a fresh temporary folder, $RABBIT_DIR if set (kept then).
#
# Environment: RABBIT_DIR, RABBIT_START_TIMEOUT (seconds, default 90), RABBIT_LOG_LEVEL
# (default warning), RABBIT_WS_COMPRESS (permessage-deflate offered, default true).
# shellcheck disable=SC2317 # stop() runs from traps
set -euo pipefail

case "${1:-}" in
  '' | *[!0-9]*) echo "usage: $0 PORT" >&2; exit 2 ;;
esac
PORT=$1
if [ "$PORT" -lt 1024 ] || [ "$PORT" -gt 65533 ]; then
  echo "rabbitmq.sh: port $PORT out of range (1024..65533: PORT+1 and PORT+2 are used too)" >&2
  exit 2
fi

# Own process group, so that stopping stops the VM and every helper it spawned. Not being a
# group leader, setsid(1) makes us one without forking: the caller's PID stays ours.
if [ "$(ps -o pgid= -p $$ | tr -d ' ')" != "$$" ]; then exec setsid "$0" "$@"; fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
if ! installed rabbitmq-server; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "rabbitmq.sh: rabbitmq-server is not installed; as root: apt-get install -y --no-install-recommends rabbitmq-server" >&2
    exit 3
  fi
  echo "rabbitmq.sh: installing rabbitmq-server" >&2
  export DEBIAN_FRONTEND=noninteractive
  ilog=$(mktemp)
  # Debian's postinst would start the system service; policy-rc.d (if present) forbids it,
  # and we stop nothing we did not start either way.
  if ! timeout 600 apt-get install -y --no-install-recommends rabbitmq-server >"$ilog" 2>&1; then
    timeout 300 apt-get update >>"$ilog" 2>&1 || true
    if ! timeout 600 apt-get install -y --no-install-recommends rabbitmq-server >>"$ilog" 2>&1; then
      tail -n 20 "$ilog" >&2
      rm -f "$ilog"
      echo "rabbitmq.sh: apt-get install rabbitmq-server failed" >&2
      exit 3
    fi
  fi
  rm -f "$ilog"
fi
RABBIT_BIN=/usr/lib/rabbitmq/bin/rabbitmq-server
[ -x "$RABBIT_BIN" ] || { echo "rabbitmq.sh: $RABBIT_BIN missing" >&2; exit 3; }

keep_dir=1
if [ -z "${RABBIT_DIR:-}" ]; then
  RABBIT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/wsc-rabbitmq.XXXXXX")
  keep_dir=0
fi
DIR=$RABBIT_DIR
mkdir -p "$DIR"

stopping=0
stop() {
  [ "$stopping" -eq 0 ] || return 0
  stopping=1
  trap - TERM INT HUP EXIT
  # Every process of our group but this shell, by id: the VM first (SIGTERM is a clean
  # shutdown), then whatever is left.
  local pids i
  others() { mapfile -t pids < <(pgrep -g $$ | grep -vx "$$"); }
  others
  [ ${#pids[@]} -eq 0 ] || kill -TERM "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do
    others
    [ ${#pids[@]} -gt 0 ] || break
    sleep 0.1
  done
  others
  [ ${#pids[@]} -eq 0 ] || kill -KILL "${pids[@]}" 2>/dev/null || true
  [ "$keep_dir" -eq 1 ] || rm -rf "$DIR"
}
trap 'stop; exit 0' TERM INT HUP
trap stop EXIT

cat >"$DIR/rabbitmq.conf" <<CONF
listeners.tcp = none
stomp.listeners.tcp = none
loopback_users.guest = true
web_stomp.tcp.ip = 127.0.0.1
web_stomp.tcp.port = $PORT
web_stomp.ws_path = /ws
web_stomp.ws_opts.compress = ${RABBIT_WS_COMPRESS:-true}
management.tcp.port = 0
log.console = true
log.console.level = ${RABBIT_LOG_LEVEL:-warning}
log.file = false
CONF
echo '[rabbitmq_web_stomp].' >"$DIR/enabled_plugins"
: >"$DIR/rabbitmq-env.conf"
export HOME=$DIR # .erlang.cookie goes here
export RABBITMQ_CONF_ENV_FILE=$DIR/rabbitmq-env.conf
export RABBITMQ_NODENAME=wsc$PORT@localhost
export RABBITMQ_CONFIG_FILE=$DIR/rabbitmq.conf
export RABBITMQ_ENABLED_PLUGINS_FILE=$DIR/enabled_plugins
export RABBITMQ_MNESIA_BASE=$DIR/mnesia RABBITMQ_LOG_BASE=$DIR/log RABBITMQ_PID_FILE=$DIR/pid
export RABBITMQ_LOGS=-
export RABBITMQ_DIST_PORT=$((PORT + 1))
export ERL_EPMD_PORT=$((PORT + 2))
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"

listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
for p in "$PORT" $((PORT + 1)) $((PORT + 2)); do
  if listening "$p"; then echo "rabbitmq.sh: port $p is in use" >&2; exit 4; fi
done

epmd -address 127.0.0.1 -port "$ERL_EPMD_PORT" &
"$RABBIT_BIN" </dev/null &
rabbit=$!

limit=${RABBIT_START_TIMEOUT:-90}
for ((i = 0; i < limit * 10; i++)); do
  if listening "$PORT"; then
    echo "listening on ws://127.0.0.1:$PORT (path /ws, login guest/guest, host /)"
    break
  fi
  if ! kill -0 "$rabbit" 2>/dev/null; then
    echo "rabbitmq.sh: rabbitmq-server exited during start" >&2
    exit 5
  fi
  sleep 0.1
done
if ! listening "$PORT"; then
  echo "rabbitmq.sh: web-stomp not listening on 127.0.0.1:$PORT after ${limit}s" >&2
  exit 5
fi
set +e
wait "$rabbit"
rc=$?
[ "$stopping" -eq 1 ] || echo "rabbitmq.sh: rabbitmq-server exited ($rc)" >&2
exit "$rc"
