#!/usr/bin/env bash
# Benchmarks `validate` and `plan` as whole processes on generated corpora (DESIGN.md §11).
# Prints median wall time (s) and median peak RSS (MB) over RUNS runs, the 10,000/1,000
# ratios, and the sample repo's cold `plan`. Usage: scripts/bench.sh [RUNS]  (default 5)
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${1:-5}
SIZES=(100 1000 10000)
CORPUS_DIR=${CORPUS_DIR:-/tmp}

cargo build --release --quiet --bin pushform --example corpus
BIN=$PWD/target/release/pushform
GEN=$PWD/target/release/examples/corpus

for n in "${SIZES[@]}"; do
  dir=$CORPUS_DIR/perf-corpus-$n
  if [ ! -f "$dir/pushform.lock" ]; then
    "$GEN" --campaigns "$n" --locales 3 --sent "$n" --out "$dir" >/dev/null
  fi
done

# median of the numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# bench DIR CMD... -> prints "wall_s rss_mb" medians
bench() {
  local dir=$1; shift
  local tmp; tmp=$(mktemp)
  for _ in $(seq "$RUNS"); do
    (cd "$dir" && /usr/bin/time -f '%e %M' -o "$tmp.one" "$BIN" "$@" >/dev/null 2>&1) || true
    tail -n1 "$tmp.one" >>"$tmp"
  done
  local wall rss
  wall=$(cut -d' ' -f1 "$tmp" | median)
  rss=$(cut -d' ' -f2 "$tmp" | median)
  rm -f "$tmp" "$tmp.one"
  echo "$wall $(awk -v k="$rss" 'BEGIN {printf "%.0f", k/1024}')"
}

declare -A R
printf '%-8s %-9s %10s %12s\n' N command wall_s peak_MB
for n in "${SIZES[@]}"; do
  for cmd in validate plan; do
    read -r wall mb < <(bench "$CORPUS_DIR/perf-corpus-$n" "$cmd")
    R[$n.$cmd.wall]=$wall; R[$n.$cmd.mb]=$mb
    printf '%-8s %-9s %10s %12s\n' "$n" "$cmd" "$wall" "$mb"
  done
done

echo
for cmd in validate plan; do
  awk -v c="$cmd" -v w1="${R[1000.$cmd.wall]}" -v w2="${R[10000.$cmd.wall]}" \
      -v m1="${R[1000.$cmd.mb]}" -v m2="${R[10000.$cmd.mb]}" \
      'BEGIN {printf "%-9s 10000/1000 ratio: wall %.1fx, peak RSS %.1fx\n", c, (w1>0?w2/w1:0), m2/m1}'
done

echo
read -r wall mb < <(bench "$PWD" plan)
printf 'sample repo cold plan: %s s, %s MB (median of %s)\n' "$wall" "$mb" "$RUNS"
# %e has 10 ms resolution; the sample repo's plan takes a few ms, so also time 20 runs.
start=$(date +%s%N)
for _ in $(seq 20); do "$BIN" plan >/dev/null 2>&1 || true; done
end=$(date +%s%N)
awk -v ns=$((end - start)) 'BEGIN {printf "sample repo cold plan: %.1f ms mean of 20 runs\n", ns/20/1e6}'
