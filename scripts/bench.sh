#!/usr/bin/env bash
# Benchmarks `validate` and `plan` as whole processes on generated corpora of two shapes
# (`basic` and `realistic`, see examples/corpus.rs), beside a read+hash floor (examples/floor.rs:
# read every input file once and SHA-1 it). Each round runs floor, validate and plan one after
# the other, so the three see the same machine load; medians over RUNS rounds.
# Prints median wall time (s) and median peak RSS (MB), plan/floor and validate/floor at each
# size, the 10,000/1,000 ratios, and the sample repo's cold `plan`.
#
# Usage: scripts/bench.sh [RUNS]   (default 5)
# Env:   PROFILE=release|dist (default release), SHAPES="basic realistic", SIZES="100 1000 10000",
#        CORPUS_DIR=/tmp, CARGO_TARGET_DIR as usual,
#        BASELINE=/path/to/an/older/pushform: also run it in every round (rows `validate-base`,
#        `plan-base`), for a before/after comparison under the same load.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${1:-5}
PROFILE=${PROFILE:-release}
read -r -a SHAPES <<<"${SHAPES:-basic realistic}"
read -r -a SIZES <<<"${SIZES:-100 1000 10000}"
CORPUS_DIR=${CORPUS_DIR:-/tmp}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}

cargo build --locked --profile "$PROFILE" --quiet --bin pushform --example corpus --example floor
BIN=$TARGET/$PROFILE/pushform
GEN=$TARGET/$PROFILE/examples/corpus
FLOOR=$TARGET/$PROFILE/examples/floor
BASELINE=${BASELINE:-}
CMDS=(floor validate plan)
[ -n "$BASELINE" ] && CMDS+=(validate-base plan-base)
echo "profile $PROFILE ($BIN), $RUNS rounds, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

for shape in "${SHAPES[@]}"; do
  for n in "${SIZES[@]}"; do
    dir=$CORPUS_DIR/perf-corpus-$shape-$n
    if [ ! -f "$dir/pushform.lock" ]; then
      "$GEN" --campaigns "$n" --locales 3 --sent "$n" --shape "$shape" --out "$dir" >/dev/null
    fi
  done
done

# median of the numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# one DIR OUT CMD... : appends "wall_s rss_kb" of one run to OUT
one() {
  local dir=$1 out=$2; shift 2
  (cd "$dir" && /usr/bin/time -f '%e %M %U' -o "$out.one" "$@" >/dev/null 2>&1) || true
  tail -n1 "$out.one" >>"$out"
}

# medians FILE -> "wall_s rss_mb user_s"
medians() {
  local wall rss user
  wall=$(cut -d' ' -f1 "$1" | median)
  rss=$(cut -d' ' -f2 "$1" | median)
  user=$(cut -d' ' -f3 "$1" | median)
  echo "$wall $(awk -v k="$rss" 'BEGIN {printf "%.0f", k/1024}') $user"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declare -A R
printf '%-10s %-7s %-13s %8s %8s %8s %9s\n' shape N command wall_s user_s peak_MB x_floor
for shape in "${SHAPES[@]}"; do
  for n in "${SIZES[@]}"; do
    dir=$CORPUS_DIR/perf-corpus-$shape-$n
    for _ in $(seq "$RUNS"); do
      one "$dir" "$tmp/floor" "$FLOOR" .
      one "$dir" "$tmp/validate" "$BIN" validate
      one "$dir" "$tmp/plan" "$BIN" plan
      if [ -n "$BASELINE" ]; then
        one "$dir" "$tmp/validate-base" "$BASELINE" validate
        one "$dir" "$tmp/plan-base" "$BASELINE" plan
      fi
    done
    for cmd in "${CMDS[@]}"; do
      read -r wall mb user < <(medians "$tmp/$cmd")
      rm -f "$tmp/$cmd" "$tmp/$cmd.one"
      R[$shape.$n.$cmd.wall]=$wall; R[$shape.$n.$cmd.mb]=$mb
      x=$(awk -v w="$wall" -v f="${R[$shape.$n.floor.wall]}" 'BEGIN {printf (f>0 ? "%.1fx" : "-"), w/f}')
      printf '%-10s %-7s %-13s %8s %8s %8s %9s\n' "$shape" "$n" "$cmd" "$wall" "$user" "$mb" "$x"
    done
  done
done

if [[ " ${SIZES[*]} " == *" 1000 "* && " ${SIZES[*]} " == *" 10000 "* ]]; then
  echo
  for shape in "${SHAPES[@]}"; do
    for cmd in floor validate plan; do
      awk -v s="$shape" -v c="$cmd" -v w1="${R[$shape.1000.$cmd.wall]}" -v w2="${R[$shape.10000.$cmd.wall]}" \
          -v m1="${R[$shape.1000.$cmd.mb]}" -v m2="${R[$shape.10000.$cmd.mb]}" \
          'BEGIN {printf "%-10s %-9s 10000/1000 ratio: wall %.1fx, peak RSS %.1fx\n", s, c, (w1>0?w2/w1:0), m2/m1}'
    done
  done
fi

echo
: >"$tmp/sample"
for _ in $(seq "$RUNS"); do one "$PWD" "$tmp/sample" "$BIN" plan; done
read -r wall mb _ < <(medians "$tmp/sample")
printf 'sample repo cold plan: %s s, %s MB (median of %s)\n' "$wall" "$mb" "$RUNS"
# %e has 10 ms resolution; the sample repo's plan takes a few ms, so also time 20 runs.
start=$(date +%s%N)
for _ in $(seq 20); do "$BIN" plan >/dev/null 2>&1 || true; done
end=$(date +%s%N)
awk -v ns=$((end - start)) 'BEGIN {printf "sample repo cold plan: %.1f ms mean of 20 runs\n", ns/20/1e6}'
