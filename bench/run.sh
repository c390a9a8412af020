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
  for n in wsref ws; do
    key=$n/$conns
    if [[ " ${names[*]} " != *" $n "* ]]; then
      [ "$n" = ws ] && printf '%-28s | %5s | %s\n' "ws" "$conns" "skipped: $ws_reason"
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
echo " cannot saturate a fast server, this is the fair comparison.)"

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
exit "$status"
