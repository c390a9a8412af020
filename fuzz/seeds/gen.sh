#!/usr/bin/env bash
# Generate the fuzz seed corpora into OUTDIR/<target>/ (fuzz/README.md, "Seeds").
#
#   fuzz/seeds/gen.sh OUTDIR [REPORT.json ...]
#
# 1. emit (fuzz/seeds/emit.c, built by `make fuzz-seeds` as $FUZZ_EMIT) records the traffic of
#    in-memory client/server session pairs running the library's scenarios, plus violations
#    derived from it, in every target's input format.
# 2. Each wsconform JSON report given (a run of the case corpus against any server, e.g.
#    `build/bin/wsconform run --out DIR ws://...` then DIR/report.json) adds the wire traffic
#    of every case: fuzz/seeds/import_report.py.
# 3. The case corpus (cases/**/*.case) seeds the case-file parser target.
# OUTDIR is replaced as a whole, so a stale seed never survives a regeneration.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 OUTDIR [REPORT.json ...]" >&2; exit 2; }
out=$1
shift
emit=${FUZZ_EMIT:-$root/build/fuzz/tools/emit}
[ -x "$emit" ] || { echo "gen.sh: $emit not built (make fuzz-seeds)" >&2; exit 1; }

tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
"$emit" "$tmp"

for report in "$@"; do
  [ -n "$report" ] || continue
  python3 "$here/import_report.py" "$report" "$tmp"
done

if [ -d "$root/cases" ]; then
  mkdir -p "$tmp/caseparse"
  find "$root/cases" -name '*.case' -type f -print0 | sort -z |
    while IFS= read -r -d '' f; do
      sum=$(sha1sum "$f" | cut -c1-16)
      cp "$f" "$tmp/caseparse/$sum"
    done
fi

rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
for d in "$out"/*/; do
  printf '  %-16s %5d seeds\n' "$(basename "$d")" "$(find "$d" -type f | wc -l)"
done
