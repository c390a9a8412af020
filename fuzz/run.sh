#!/usr/bin/env bash
# Runs the fuzz targets for `make fuzz`, `make fuzz-regress` and `make fuzz-coverage`
# (fuzz/fuzz.mk passes the environment). See fuzz/README.md.
#
#   run.sh fuzz      each target for FUZZ_SECONDS on build/fuzz/corpus/<t> (+ seeds and
#                    regressions), then a table: exec/s, corpus, cov/ft, crashes
#   run.sh regress   replay seeds + fuzz/regressions/<t>/ once through each target (CI)
#   run.sh coverage  replay seeds + corpus + regressions through the coverage build, then
#                    line coverage of reference/ per layer and of the harness parsers (llvm-cov)
#
# Environment: FUZZ_OUT (build/fuzz), FUZZ_NAMES (targets without the fuzz_ prefix),
# FUZZ_SECONDS (60), FUZZ_FLAGS (extra libFuzzer flags), LLVM_SUFFIX (-14 or empty),
# FUZZ_COV_MIN (fail coverage below this percent per layer; default 0 = report only).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=${1:-}
OUT=${FUZZ_OUT:-build/fuzz}
SECONDS_PER=${FUZZ_SECONDS:-60}
NAMES=${FUZZ_NAMES:-}
FLAGS=${FUZZ_FLAGS:-}
SUF=${LLVM_SUFFIX-}
if [ -z "$NAMES" ]; then
  NAMES=$(for f in "$OUT"/bin/fuzz_*; do [ -x "$f" ] && basename "$f" | sed 's/^fuzz_//'; done)
fi
NAMES=$(echo "$NAMES" | tr ' ' '\n' | sed 's/^fuzz_//' | grep -v '^$')

# [libfuzzer] key = value lines of fuzz/options/<t>.options as -key=value flags.
options_flags() {
  local f="fuzz/options/$1.options"
  [ -f "$f" ] || return 0
  sed -n 's/^[[:space:]]*\([a-z_]*\)[[:space:]]*=[[:space:]]*\([^[:space:]]*\).*/-\1=\2/p' "$f" | tr '\n' ' '
}

# Input folders of a target that exist and hold files.
input_dirs() {
  local t=$1 d
  shift
  for d in "$@"; do
    [ -d "$d" ] && [ -n "$(ls -A "$d" 2>/dev/null)" ] && printf '%s ' "$d"
  done
}

count_artifacts() {
  find "$1" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) 2>/dev/null | wc -l
}

run_fuzz() {
  local status=0 rows=()
  mkdir -p "$OUT/logs"
  for t in $NAMES; do
    local bin="$OUT/bin/fuzz_$t" corpus="$OUT/corpus/$t" art="$OUT/artifacts/$t"
    local log="$OUT/logs/fuzz_$t.log"
    [ -x "$bin" ] || { echo "run.sh: $bin missing" >&2; status=1; continue; }
    mkdir -p "$corpus" "$art"
    local before dict=""
    before=$(count_artifacts "$art")
    [ -f "fuzz/dict/$t.dict" ] && dict="-dict=fuzz/dict/$t.dict"
    echo "== fuzz_$t: ${SECONDS_PER}s (log: $log)"
    # shellcheck disable=SC2046,SC2086
    "$bin" -max_total_time="$SECONDS_PER" -print_final_stats=1 $dict $(options_flags "$t") \
      -artifact_prefix="$art/" $FLAGS "$corpus" $(input_dirs "$t" "$OUT/seeds/$t" \
      "fuzz/regressions/$t") >"$log" 2>&1
    local rc=$?
    local after crashes
    after=$(count_artifacts "$art")
    crashes=$((after - before))
    [ $rc -ne 0 ] && [ $crashes -eq 0 ] && crashes=1
    [ $crashes -gt 0 ] && status=1
    local eps cov ft corp
    eps=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$log" | tail -1)
    [ -n "$eps" ] || eps=$(grep -o 'exec/s: [0-9]*' "$log" | tail -1 | awk '{print $2}')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | awk '{print $2}')
    corp=$(find "$corpus" -type f | wc -l)
    rows+=("$(printf '%-16s %10s %8s %8s %8s %8s' "$t" "${eps:-?}" "$corp" "${cov:-?}" \
      "${ft:-?}" "$crashes")")
    if [ $crashes -gt 0 ]; then
      grep -E 'INVARIANT|ERROR|SUMMARY|Test unit written' "$log" | head -5 | sed 's/^/   /'
    fi
  done
  echo
  printf '%-16s %10s %8s %8s %8s %8s\n' target exec/s corpus cov ft crashes
  printf '%s\n' "${rows[@]}"
  [ $status -eq 0 ] || echo "crash reproducers: $OUT/artifacts/<target>/ (fuzz/README.md: minimize, store, report)"
  return $status
}

run_regress() {
  local status=0 t
  for t in $NAMES; do
    local bin="$OUT/bin/fuzz_$t" dirs
    [ -x "$bin" ] || { echo "run.sh: $bin missing" >&2; status=1; continue; }
    dirs=$(input_dirs "$t" "$OUT/seeds/$t" "fuzz/regressions/$t")
    if [ -z "$dirs" ]; then
      printf '%-16s no inputs\n' "$t"
      continue
    fi
    local log="$OUT/logs/regress_$t.log"
    mkdir -p "$OUT/logs"
    # -runs=0: execute every input once, no mutation. No max_len: inputs are not truncated.
    # shellcheck disable=SC2086
    if "$bin" -runs=0 -timeout=25 -rss_limit_mb=4096 $dirs >"$log" 2>&1; then
      printf '%-16s ok   %s inputs\n' "$t" "$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')"
    else
      printf '%-16s FAIL (log: %s)\n' "$t" "$log"
      grep -E 'INVARIANT|ERROR|SUMMARY|runtime error' "$log" | head -5 | sed 's/^/   /'
      status=1
    fi
  done
  return $status
}

# The app/ files a target includes (the STOMP broker; echo.c and stomp_client.c, which needs
# io/, are in no target): reported as their own row, outside FUZZ_COV_MIN.
app_files() {
  local f
  for f in reference/app/*.c; do
    grep -qs "app/$(basename "$f" .c).h" fuzz/fuzz_*.c && printf '%s ' "$f"
  done
}

# The harness's parsers of untrusted input that the harness targets run (case files,
# observers, reports): reported as their own row, outside FUZZ_COV_MIN. The rest of harness/
# (runner, connections, campaigns) needs sockets and is covered by the tests instead.
harness_files() {
  local f
  for f in caseparse payload observer stompwire json report report_json report_html \
    report_junit report_tap report_md diff; do
    [ -f "harness/$f.c" ] && printf 'harness/%s.c ' "$f"
  done
}

run_coverage() {
  local prof="$OUT/cov/prof" status=0 objs=() t
  rm -rf "$prof"
  mkdir -p "$prof"
  for t in $NAMES; do
    local bin="$OUT/cov/bin/fuzz_$t" dirs
    [ -x "$bin" ] || { echo "run.sh: $bin missing" >&2; status=1; continue; }
    objs+=("$bin")
    dirs=$(input_dirs "$t" "$OUT/seeds/$t" "$OUT/corpus/$t" "fuzz/regressions/$t")
    [ -n "$dirs" ] || continue
    # shellcheck disable=SC2086
    # Inputs of still-open bugs only print their invariant failure here (see
    # FUZZ_COVERAGE_BUILD in support/common.h): a warning, the coverage counts all the same.
    if ! LLVM_PROFILE_FILE="$prof/$t.profraw" "$bin" $dirs 2>"$OUT/cov/replay_$t.log"; then
      echo "warning: fuzz_$t: invariant failures or unreadable inputs during replay" \
        "($(grep -c 'INVARIANT FAILED' "$OUT/cov/replay_$t.log") failures; $OUT/cov/replay_$t.log)" >&2
    fi
  done
  [ ${#objs[@]} -gt 0 ] || return 1
  "llvm-profdata$SUF" merge -sparse "$prof"/*.profraw -o "$prof/all.profdata" || return 1
  local args=("${objs[0]}")
  for o in "${objs[@]:1}"; do args+=(-object "$o"); done
  "llvm-cov$SUF" report -instr-profile="$prof/all.profdata" "${args[@]}" \
    $(ls reference/{base,codec,handshake,session}/*.c) $(app_files) $(harness_files) \
    >"$OUT/cov/report.txt"
  "llvm-cov$SUF" show -format=html -output-dir="$OUT/cov/html" \
    -instr-profile="$prof/all.profdata" "${args[@]}" \
    $(ls reference/{base,codec,handshake,session}/*.c) $(app_files) $(harness_files) \
    >/dev/null 2>&1 || true
  echo
  printf '%-12s %8s %8s %8s\n' layer lines missed cover
  local min=${FUZZ_COV_MIN:-0} layer
  for layer in base codec handshake session app harness; do
    local total files
    case $layer in
      app) files=$(app_files) ;;
      harness) files=$(harness_files) ;;
      *) files=$(ls reference/$layer/*.c) ;;
    esac
    [ -n "$files" ] || continue
    # shellcheck disable=SC2046,SC2086
    total=$("llvm-cov$SUF" report -instr-profile="$prof/all.profdata" "${args[@]}" \
      $files | awk '$1 == "TOTAL" {print $8, $9, $10}')
    set -- $total
    printf '%-12s %8s %8s %8s\n' "$layer" "${1:-?}" "${2:-?}" "${3:-?}"
    local pct=${3%\%}
    if [ "$layer" != base ] && [ "$layer" != app ] && [ "$layer" != harness ] && [ -n "$pct" ] && awk -v p="$pct" -v m="$min" 'BEGIN{exit !(p < m)}'; then
      echo "  below FUZZ_COV_MIN=$min%" >&2
      status=1
    fi
  done
  local low
  low=$(awk '$1 ~ /\.c$/ { p = $10; sub(/%/, "", p); if (p + 0 < 90) printf "  %-28s %8s lines, %s covered\n", $1, $8, $10 }' \
    "$OUT/cov/report.txt")
  [ -z "$low" ] || printf 'files under 90%%:\n%s\n' "$low"
  echo "per-file report: $OUT/cov/report.txt   html: $OUT/cov/html/index.html"
  return $status
}

case $mode in
  fuzz) run_fuzz ;;
  regress) run_regress ;;
  coverage) run_coverage ;;
  *) echo "usage: $0 fuzz|regress|coverage" >&2; exit 2 ;;
esac
