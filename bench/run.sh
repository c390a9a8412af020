#!/usr/bin/env bash
# Benchmarks (`make bench`): the codec microbenchmarks, then wsref-server against the npm ws
# echo server under the same load client (build/bench/load): round trips/s and RTT with 1 and
# 100 connections, each keeping one message in flight, then memory per idle connection.
#
# Environment: WSC_BUILD (default build), WSC_NODE_DIR (default build/node),
# BENCH_SECONDS (measured seconds per run, default 5), BENCH_WARMUP (default 1),
# BENCH_SIZE (message bytes, default 512), BENCH_IDLE (idle connections, default 1000),
# BENCH_PIN (default 1: pin the server to CPU 0 and the load client to CPU 1).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WSC_BUILD=${WSC_BUILD:-$ROOT/build}
WSC_NODE_DIR=${WSC_NODE_DIR:-$ROOT/build/node}
SECONDS_RUN=${BENCH_SECONDS:-5}
WARMUP=${BENCH_WARMUP:-1}
SIZE=${BENCH_SIZE:-512}
IDLE=${BENCH_IDLE:-1000}
LOAD=$WSC_BUILD/bench/load
SERVER=$WSC_BUILD/bin/wsref-server
TMP=$(mktemp -d "${TMPDIR:-/tmp}/wsc-bench.XXXXXX")
pids=()
status=0

cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.2
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- codec ------------------------------------------------------------------------------
echo "== codec"
if [ -x "$WSC_BUILD/bench/codec_bench" ]; then
  "$WSC_BUILD/bench/codec_bench" || { echo "codec_bench FAILED"; status=1; }
else
  echo "codec_bench: not built ($WSC_BUILD/bench/codec_bench), skipped"
fi
echo

# ---- servers ----------------------------------------------------------------------------
for f in "$LOAD" "$SERVER"; do
  [ -x "$f" ] || { echo "bench: $f not built (run make)"; exit 1; }
done

# Both the servers and the load client need a descriptor per connection.
hard=$(ulimit -Hn)
want=$((IDLE * 2 + 256))
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then want=$hard; fi
ulimit -n "$want" 2>/dev/null || true

# Two cores: the server gets CPU 0, the load client CPU 1, so neither steals the other's.
# BENCH_PIN=0 turns that off (then, with one connection, both often share a core and skip
# the cross-core wake-up that dominates a pinned 1-connection round trip).
ncpu=$(nproc)
if [ "${BENCH_PIN:-1}" != 0 ] && command -v taskset >/dev/null 2>&1 && [ "$ncpu" -ge 2 ]; then
  PIN_SERVER=(taskset -c 0)
  PIN_LOAD=(taskset -c 1)
  pinning="the server and the load client each get one core: server pinned to CPU 0, load client to CPU 1"
else
  PIN_SERVER=()
  PIN_LOAD=()
  pinning="not pinned (BENCH_PIN=0, no taskset, or 1 CPU): the scheduler places them"
fi
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')

# start NAME CMD...: start a server that prints `listening on ws://127.0.0.1:PORT`; sets
# PORT and PID, or returns 1.
start() {
  local name=$1 i line
  shift
  "${PIN_SERVER[@]}" "$@" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err" &
  PID=$!
  pids+=("$PID")
  for ((i = 0; i < 200; i++)); do
    line=$(grep -m1 -oE 'listening on ws://[^ /]+' "$TMP/$name.out" 2>/dev/null)
    if [ -n "$line" ]; then
      PORT=${line##*:}
      return 0
    fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "bench: $name did not start:"
  sed 's/^/    /' "$TMP/$name.err" | tail -n 10
  return 1
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

declare -A PORTS PIDS RATE P50 P99 LABEL CPU
names=()

if start wsref "$SERVER" --port 0 --host 127.0.0.1 --quiet; then
  names+=(wsref)
  PORTS[wsref]=$PORT PIDS[wsref]=$PID
  LABEL[wsref]="wsref-server"
else
  status=1
fi

ws_reason=
if ! command -v node >/dev/null 2>&1; then
  ws_reason="node not installed (scripts/deps.sh installs it)"
elif [ ! -f "$WSC_NODE_DIR/node_modules/ws/package.json" ]; then
  ws_reason="npm ws not installed in $WSC_NODE_DIR (scripts/deps.sh; npm registry unreachable?)"
elif start ws env "NODE_PATH=$WSC_NODE_DIR/node_modules" node "$ROOT/tests/integration/peers/ws_echo_server.js"; then
  names+=(ws)
  PORTS[ws]=$PORT PIDS[ws]=$PID
  LABEL[ws]="ws $(env NODE_PATH="$WSC_NODE_DIR/node_modules" node -p "require('ws/package.json').version") (node $(node --version))"
else
  ws_reason="ws echo server did not start"
  status=1
fi

# The ceiling: the least work a WebSocket echo can do per round trip (bench/ceiling_echo.c:
# one recv, one send, no validation), so the table shows how close the servers get to what
# this machine's loopback TCP allows.
if start ceiling "$WSC_BUILD/bench/ceiling_echo" 0; then
  names+=(ceiling)
  PORTS[ceiling]=$PORT PIDS[ceiling]=$PID
  LABEL[ceiling]="ceiling (bench/ceiling_echo)"
fi

path_of() { [ "$1" = wsref ] && echo /echo || echo /; }

echo "== echo round trips: $SIZE B text messages, one in flight per connection, ${WARMUP} s warm-up + ${SECONDS_RUN} s measured"
echo "   machine: $ncpu CPUs ($cpu); $pinning"
for conns in 1 100; do
  for n in "${names[@]}"; do
    key=$n/$conns
    out=$TMP/load-$n-$conns.out
    cpu0=$(cpu_ticks "${PIDS[$n]}")
    w0=$(date +%s.%N)
    "${PIN_LOAD[@]}" timeout $((SECONDS_RUN + WARMUP + 90)) "$LOAD" --port "${PORTS[$n]}" \
      --path "$(path_of "$n")" --conns "$conns" --size "$SIZE" --duration "$SECONDS_RUN" \
      --warmup "$WARMUP" >"$out" 2>&1
    rc=$?
    w1=$(date +%s.%N)
    cpu1=$(cpu_ticks "${PIDS[$n]}")
    # The server's share of one core over the run (warm-up included: same load).
    CPU[$key]=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$(getconf CLK_TCK)" -v w0="$w0" -v w1="$w1" \
      'BEGIN { printf "%.2f", (b - a) / t / (w1 - w0) }')
    res=$(grep '^RESULT' "$out" | tail -n1)
    if [ "$rc" -ne 0 ] || [ -z "$res" ]; then
      echo "   ${LABEL[$n]}, $conns connections: load FAILED (exit $rc):"
      sed 's/^/      /' "$out" | tail -n 8
      status=1
      RATE[$key]=
      continue
    fi
    RATE[$key]=$(sed -E 's/.* rt_per_s=([0-9.]+).*/\1/' <<<"$res")
    P50[$key]=$(sed -E 's/.* p50_us=([0-9.]+).*/\1/' <<<"$res")
    P99[$key]=$(sed -E 's/.* p99_us=([0-9.]+).*/\1/' <<<"$res")
  done
done

# Rate per second of server CPU: what one core of the server can do, whether or not the
# load client (one core of its own) managed to saturate it.
norm() { awk -v r="$1" -v c="$2" 'BEGIN { if (c > 0) printf "%.0f", r / c; else print 0 }'; }

fmt_us() { awk -v u="$1" 'BEGIN { if (u >= 1000) printf "%.2f ms", u / 1000; else printf "%.1f us", u }'; }
echo
printf '%-28s | %5s | %13s | %9s | %9s | %11s | %10s | %13s | %s\n' server conns "round trips/s" p50 p99 "ratio vs ws" "server CPU" "rt/CPU-s" "ratio per CPU"
printf '%s\n' "-----------------------------+-------+---------------+-----------+-----------+-------------+------------+---------------+--------------"
for conns in 1 100; do
  for n in wsref ws ceiling; do
    key=$n/$conns
    if [[ " ${names[*]} " != *" $n "* ]]; then
      [ "$n" = ws ] && printf '%-28s | %5s | %s\n' "ws" "$conns" "skipped: $ws_reason"
      [ "$n" = ceiling ] && printf '%-28s | %5s | %s\n' "ceiling" "$conns" "skipped: did not start"
      continue
    fi
    if [ -z "${RATE[$key]:-}" ]; then
      printf '%-28s | %5s | %s\n' "${LABEL[$n]}" "$conns" "FAILED"
      continue
    fi
    ratio=n/a
    cratio=n/a
    nr=$(norm "${RATE[$key]}" "${CPU[$key]}")
    if [ -n "${RATE[ws/$conns]:-}" ]; then
      ratio=$(awk -v a="${RATE[$key]}" -v b="${RATE[ws/$conns]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
      cratio=$(awk -v a="$nr" -v b="$(norm "${RATE[ws/$conns]}" "${CPU[ws/$conns]}")" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
    fi
    printf '%-28s | %5s | %13s | %9s | %9s | %11s | %10s | %13s | %s\n' "${LABEL[$n]}" "$conns" \
      "$(printf "%'.0f" "${RATE[$key]}" 2>/dev/null || echo "${RATE[$key]}")" \
      "$(fmt_us "${P50[$key]}")" "$(fmt_us "${P99[$key]}")" "$ratio" \
      "$(awk -v c="${CPU[$key]}" 'BEGIN { printf "%.0f%%", c * 100 }')" \
      "$(printf "%'.0f" "$nr" 2>/dev/null || echo "$nr")" "$cratio"
  done
done
echo "(2-core machine; $pinning."
echo " Loopback TCP, so the kernel's share of each round trip is large; with 1 connection the"
echo " round trip is mostly two cross-core wake-ups, so compare servers at 100 connections."
echo " server CPU: the server's share of one core during the run; rt/CPU-s: round trips per"
echo " second of server CPU, the rate one saturated core would give: when the one load client"
echo " cannot saturate a fast server, this is the fair comparison. The ceiling row is a"
echo " WebSocket echo that does nothing but recv, unmask and send: no server can beat it here.)"

# ---- memory per idle connection ----------------------------------------------------------
echo
echo "== memory per idle connection: $IDLE connections open (handshake done), then idle"
printf '%-28s | %10s | %10s | %10s | %s\n' server "idle conns" "RSS before" "RSS after" "per connection"
printf '%s\n' "-----------------------------+------------+------------+------------+---------------"
for n in wsref ws; do
  if [[ " ${names[*]} " != *" $n "* ]]; then
    [ "$n" = ws ] && printf '%-28s | %s\n' ws "skipped: $ws_reason"
    continue
  fi
  pid=${PIDS[$n]}
  before=$(rss_kib "$pid")
  idle_out=$TMP/idle-$n.out
  "${PIN_LOAD[@]}" "$LOAD" --port "${PORTS[$n]}" --path "$(path_of "$n")" --idle "$IDLE" --hold 60 \
    >"$idle_out" 2>&1 &
  lpid=$!
  pids+=("$lpid")
  ready=
  for ((i = 0; i < 600; i++)); do
    grep -q '^IDLE' "$idle_out" 2>/dev/null && { ready=1; break; }
    kill -0 "$lpid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ready" ]; then
    printf '%-28s | %s\n' "${LABEL[$n]}" "FAILED: $(tail -n 2 "$idle_out" | tr '\n' ' ')"
    status=1
    kill -TERM "$lpid" 2>/dev/null
    wait "$lpid" 2>/dev/null
    continue
  fi
  sleep 1 # let the server finish whatever it does after a handshake
  after=$(rss_kib "$pid")
  kill -TERM "$lpid" 2>/dev/null
  wait "$lpid" 2>/dev/null
  per=$(awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN { printf "%.1f KiB", (a - b) / n }')
  printf '%-28s | %10s | %10s | %10s | %s\n' "${LABEL[$n]}" "$IDLE" "$before KiB" "$after KiB" "$per"
  sleep 1 # the server drops the closed connections before the next measurement
done
echo "(VmRSS of the server process from /proc/PID/status; node's figure includes its garbage"
echo " collector's timing, so read it as an estimate.)"

# ---- the conformance run itself -----------------------------------------------------------
WSC=$WSC_BUILD/bin/wsconform
echo
echo "== wsconform: the default corpus (perf excluded) against the embedded reference server"
if [ -x "$WSC" ]; then
  printf '%-14s | %6s | %9s | %9s | %s\n' jobs cases seconds "cases/s" verdicts
  printf '%s\n' "---------------+--------+-----------+-----------+------------------------------"
  for jobs in 1 default; do
    jopt=()
    [ "$jobs" = default ] || jopt=(--jobs "$jobs")
    t0=$(date +%s.%N)
    WSC_CASES=$ROOT/cases "$WSC" run --quiet "${jopt[@]}" --format json --out "$TMP/wsc-$jobs" \
      >"$TMP/wsc-$jobs.log" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    [ "$jobs" = default ] && jobs="default ($ncpu)"
    if [ ! -s "$TMP/wsc-${jopt[1]:-default}/report.json" ]; then
      printf '%-14s | %s\n' "$jobs" "FAILED (exit $rc): $(tail -n 1 "$TMP/wsc-${jopt[1]:-default}.log")"
      status=1
      continue
    fi
    read -r n verdicts < <(/usr/bin/python3 - "$TMP/wsc-${jopt[1]:-default}/report.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
print(s["total"], " ".join(f"{k}={s[k]}" for k in ("PASS", "NON-STRICT", "INFO", "UNSUPPORTED", "FAIL", "ERROR") if s[k]))
PY
)
    awk -v j="$jobs" -v n="$n" -v a="$t0" -v b="$t1" -v v="$verdicts" \
      'BEGIN { d = b - a; printf "%-14s | %6d | %9.2f | %9.1f | %s\n", j, n, d, n / d, v }'
    [ "$rc" -eq 0 ] || status=1
  done
  echo "(wall clock of the whole command: server start, every case, every report written;"
  echo " target: under 20 s with the default jobs on a 2-core machine.)"
else
  echo "wsconform not built ($WSC), skipped"
fi

# ---- STOMP broker: wsref-server's broker against RabbitMQ web-stomp ------------------------
# The same load client (build/bench/stomp_load, raw WebSocket + codec/stomp.h) drives both:
# memory per idle STOMP session first, on a freshly started broker (an allocator keeps what a
# throughput run freed, so measuring after one would hide the sessions' cost), then fanout
# (1 publisher -> 100 /topic subscribers) and queue (100 publishers -> 1 /queue consumer).
# Environment: BENCH_STOMP_IDLE (idle sessions, default 1000), BENCH_STOMP_SIZE (body octets,
# default 256), BENCH_STOMP=0 skips the section; BENCH_SECONDS and BENCH_WARMUP as above.
STOMP_LOAD=$WSC_BUILD/bench/stomp_load
STOMP_IDLE=${BENCH_STOMP_IDLE:-1000}
STOMP_SIZE=${BENCH_STOMP_SIZE:-256}
STOMP_SUBS=100
STOMP_PUBS=100
STOMP_WIN_FANOUT=128 # messages not yet received by every subscriber
STOMP_WIN_QUEUE=8    # per publisher: messages not yet consumed
rabbit_pid=

# RabbitMQ runs in its own process group (scripts/rabbitmq.sh makes it one); its SIGTERM
# handler stops the Erlang VM and deletes its state, which takes a few seconds, so wait for
# it here rather than let the generic cleanup KILL it half way.
stop_rabbit() {
  [ -n "$rabbit_pid" ] || return 0
  local i
  kill -TERM "$rabbit_pid" 2>/dev/null
  for ((i = 0; i < 150; i++)); do
    kill -0 "$rabbit_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$rabbit_pid" 2>/dev/null; then kill -KILL -- "-$rabbit_pid" 2>/dev/null; fi
  wait "$rabbit_pid" 2>/dev/null
  rabbit_pid=
}
trap 'stop_rabbit; cleanup' EXIT

# group_pids PID: the processes of PID's process group, comma-separated (RabbitMQ: the
# script, epmd, the Erlang VM and its port programs).
group_pids() { pgrep -g "$1" | paste -sd, -; }
# rss_sum PIDS: VmRSS of the comma-separated processes together, KiB.
rss_sum() {
  local p t=0 v
  for p in ${1//,/ }; do
    v=$(rss_kib "$p")
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# stomp_idle KEY URL PIDS LOAD-ARGS...: memory per idle session; sets MEM[KEY].
stomp_idle() {
  local key=$1 url=$2 spids=$3 before after lpid ready i out=$TMP/stomp-idle-$1.out
  shift 3
  before=$(rss_sum "$spids")
  "${PIN_LOAD[@]}" "$STOMP_LOAD" --url "$url" "$@" --idle "$STOMP_IDLE" --hold 60 >"$out" 2>&1 &
  lpid=$!
  pids+=("$lpid")
  ready=
  for ((i = 0; i < 600; i++)); do
    grep -q '^IDLE' "$out" 2>/dev/null && { ready=1; break; }
    kill -0 "$lpid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ready" ]; then
    MEM[$key]="FAILED: $(grep -v '^RESULT' "$out" | tail -n 2 | tr '\n' ' ')"
    status=1
  else
    sleep 1 # let the broker finish whatever it does after a CONNECT
    after=$(rss_sum "$spids")
    MEM[$key]=$(awk -v a="$after" -v b="$before" -v n="$STOMP_IDLE" \
      'BEGIN { printf "%10s | %10s | %10s | %.1f KiB", n, b " KiB", a " KiB", (a - b) / n }')
  fi
  kill -TERM "$lpid" 2>/dev/null
  wait "$lpid" 2>/dev/null
  sleep 0.5 # the broker drops the closed sessions before the next run
}

# stomp_run KEY MODE URL PIDS LOAD-ARGS...: sets SRATE[KEY], SCPU[KEY], CCPU[KEY] or SFAIL[KEY].
stomp_run() {
  local key=$1 mode=$2 url=$3 spids=$4 out=$TMP/stomp-${1//\//-}.out rc res
  shift 4
  local count=(--subscribers "$STOMP_SUBS" --window "$STOMP_WIN_FANOUT")
  [ "$mode" = queue ] && count=(--publishers "$STOMP_PUBS" --window "$STOMP_WIN_QUEUE")
  # BENCH_SECONDS and BENCH_WARMUP may be fractional
  "${PIN_LOAD[@]}" timeout "$(awk -v a="$SECONDS_RUN" -v b="$WARMUP" 'BEGIN { printf "%d", a + b + 90 }')" \
    "$STOMP_LOAD" --url "$url" "$@" \
    "${count[@]}" --size "$STOMP_SIZE" --duration "$SECONDS_RUN" --warmup "$WARMUP" \
    --server-pids "$spids" "$mode" >"$out" 2>&1
  rc=$?
  res=$(grep '^RESULT' "$out" | tail -n1)
  if [ "$rc" -ne 0 ] || [ -z "$res" ] || [[ "$res" == *error=* ]]; then
    SFAIL[$key]="FAILED (exit $rc): $(grep -v '^RESULT' "$out" | tail -n 3 | tr '\n' ' ')"
    status=1
    return
  fi
  SRATE[$key]=$(sed -E 's/.* msgs_per_s=([0-9.]+).*/\1/' <<<"$res")
  SCPU[$key]=$(sed -E 's/.* server_cpu=([0-9.na]+).*/\1/' <<<"$res")
  CCPU[$key]=$(sed -E 's/.* client_cpu=([0-9.]+).*/\1/' <<<"$res")
}

pct() { awk -v c="$1" 'BEGIN { if (c == "na") print "n/a"; else printf "%.0f%%", c * 100 }'; }

declare -A SRATE SCPU CCPU SFAIL MEM SLABEL
stomp_brokers=()
rabbit_reason=
echo
if [ "${BENCH_STOMP:-1}" = 0 ]; then
  echo "== STOMP broker throughput: skipped (BENCH_STOMP=0)"
elif [ ! -x "$STOMP_LOAD" ]; then
  echo "== STOMP broker throughput: $STOMP_LOAD not built (run make), skipped"
  status=1
else
  echo "== STOMP broker throughput: $STOMP_SIZE B bodies, STOMP 1.2 over WebSocket (v12.stomp), ack:auto,"
  echo "   ${WARMUP} s warm-up + ${SECONDS_RUN} s measured per run, the same load client (build/bench/stomp_load) for both"
  echo "   machine: $ncpu CPUs ($cpu); $pinning"

  # wsref-server: a fresh one, so the idle measurement starts from a clean heap.
  if start stomp-wsref "$SERVER" --port 0 --host 127.0.0.1 --quiet; then
    SLABEL[wsref]="wsref-server (spec profile)"
    stomp_brokers+=(wsref)
    url=ws://127.0.0.1:$PORT/stomp
    stomp_idle wsref "$url" "$PID"
    stomp_run wsref/fanout fanout "$url" "$PID"
    stomp_run wsref/queue queue "$url" "$PID"
    kill -TERM "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
  else
    status=1
  fi

  # RabbitMQ: scripts/rabbitmq.sh on a free port (it needs PORT+1 and PORT+2 free too).
  rabbit_ver=$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null)
  for attempt in 1 2 3; do
    rport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null)
    if [ -z "$rport" ] || [ "$rport" -gt 65533 ]; then rabbit_reason="no free port"; continue; fi
    "${PIN_SERVER[@]}" "$ROOT/scripts/rabbitmq.sh" "$rport" </dev/null >"$TMP/rabbitmq.out" 2>&1 &
    rabbit_pid=$!
    rabbit_reason=
    for ((i = 0; i < 1200; i++)); do # installing it can take minutes; starting, seconds
      grep -q '^listening on ws://' "$TMP/rabbitmq.out" 2>/dev/null && break
      if ! kill -0 "$rabbit_pid" 2>/dev/null; then
        wait "$rabbit_pid" 2>/dev/null
        rc=$?
        rabbit_reason="scripts/rabbitmq.sh exited ($rc): $(grep 'rabbitmq.sh:' "$TMP/rabbitmq.out" | tail -n 1)"
        rabbit_pid=
        break
      fi
      sleep 0.1
    done
    if [ -n "$rabbit_pid" ] && ! grep -q '^listening on ws://' "$TMP/rabbitmq.out"; then
      rabbit_reason="web-stomp not listening after 120 s"
      stop_rabbit
    fi
    # exit 4: one of the three ports was taken; try others
    [[ "$rabbit_reason" == *"exited (4)"* ]] || break
  done
  if [ -n "$rabbit_pid" ]; then
    SLABEL[rabbit]="RabbitMQ ${rabbit_ver%%-*} web-stomp"
    stomp_brokers+=(rabbit)
    url=ws://127.0.0.1:$rport/ws
    rauth=(--host / --login guest --passcode guest)
    sleep 2 # the broker goes on starting plugins after its listener opened
    rpids=$(group_pids "$rabbit_pid")
    stomp_idle rabbit "$url" "$rpids" "${rauth[@]}"
    rpids=$(group_pids "$rabbit_pid")
    stomp_run rabbit/fanout fanout "$url" "$rpids" "${rauth[@]}"
    stomp_run rabbit/queue queue "$url" "$rpids" "${rauth[@]}"
    stop_rabbit
  fi

  echo
  printf '%-28s | %-36s | %11s | %17s | %10s | %s\n' broker mode "msgs/s" "ratio vs RabbitMQ" "broker CPU" "client CPU"
  printf '%s\n' "-----------------------------+--------------------------------------+-------------+-------------------+------------+-----------"
  for mode in fanout queue; do
    if [ "$mode" = fanout ]; then
      mlabel="fanout: 1 pub -> $STOMP_SUBS /topic subs"
    else
      mlabel="queue: $STOMP_PUBS pubs -> 1 /queue consumer"
    fi
    for b in wsref rabbit; do
      key=$b/$mode
      if [[ " ${stomp_brokers[*]} " != *" $b "* ]]; then
        [ "$b" = rabbit ] && printf '%-28s | %-36s | %s\n' RabbitMQ "$mlabel" "skipped: $rabbit_reason"
        continue
      fi
      if [ -z "${SRATE[$key]:-}" ]; then
        printf '%-28s | %-36s | %s\n' "${SLABEL[$b]}" "$mlabel" "${SFAIL[$key]:-FAILED}"
        continue
      fi
      ratio=n/a
      if [ -n "${SRATE[rabbit/$mode]:-}" ]; then
        ratio=$(awk -v a="${SRATE[$key]}" -v b="${SRATE[rabbit/$mode]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
      fi
      printf '%-28s | %-36s | %11s | %17s | %10s | %s\n' "${SLABEL[$b]}" "$mlabel" \
        "$(printf "%'.0f" "${SRATE[$key]}" 2>/dev/null || echo "${SRATE[$key]}")" "$ratio" \
        "$(pct "${SCPU[$key]}")" "$(pct "${CCPU[$key]}")"
    done
  done
  echo "(msgs/s: MESSAGE frames received per second by all subscribers together (fanout: each"
  echo " published message counts once per subscriber) or by the consumer (queue). The publishers"
  echo " are paced end to end: fanout keeps at most $STOMP_WIN_FANOUT messages not yet received by every"
  echo " subscriber, queue at most $STOMP_WIN_QUEUE per publisher not yet consumed, the same for both brokers."
  echo " Every body is checked (publisher, sequence number, content): a run that lost, repeated,"
  echo " reordered or corrupted a message is reported FAILED."
  echo " CPU over the measured window, 100% = one core: the broker side at 100% set the pace."
  echo " 2-core machine; $pinning; RabbitMQ's Erlang VM and helpers all pinned to CPU 0 too.)"

  echo
  echo "== memory per idle STOMP session: $STOMP_IDLE sessions CONNECTED (heart-beat 0,0), then idle, on a fresh broker"
  printf '%-28s | %10s | %10s | %10s | %s\n' broker "sessions" "RSS before" "RSS after" "per session"
  printf '%s\n' "-----------------------------+------------+------------+------------+---------------"
  for b in wsref rabbit; do
    if [[ " ${stomp_brokers[*]} " != *" $b "* ]]; then
      [ "$b" = rabbit ] && printf '%-28s | %s\n' RabbitMQ "skipped: $rabbit_reason"
      continue
    fi
    printf '%-28s | %s\n' "${SLABEL[$b]}" "${MEM[$b]:-FAILED}"
  done
  echo "(VmRSS from /proc/PID/status; RabbitMQ: its whole process group (Erlang VM, epmd, the start"
  echo " script). The Erlang VM's figure depends on its garbage collector's timing: an estimate.)"
fi
exit "$status"
