#!/usr/bin/env bash
# NSL-KDD through the generic commands: `vigil flows nslkdd` converts the
# 20 % training file and KDDTest+ (and KDDTest-21), `vigil train` fits each
# configuration with seeds 1..SEEDS, `vigil score` and `vigil eval` measure
# 5-class accuracy and per-class recall on the test files. Prints a markdown
# table per test file (docs/results.md, "Threat detection").
#
#   tools/nslkdd_eval.sh [OUT_DIR]        SEEDS=5 by default
#
# Set SKLEARN=0 to skip scikit-learn's MLP on the same files (tools/nslkdd_sklearn.py).
#
# Every model sees the same converted files; --deltas false because columns
# such as srv_count would otherwise be taken for counters (their names end in
# _count) and differenced, while NSL-KDD rows are independent records.
set -u
cd "$(dirname "$0")/.."
V=${VIGIL_BIN:-$PWD/vigil}
DATA=${VIGIL_DATA:-../shared/data}/nsl-kdd
OUT=${1:-/tmp/vigil-nslkdd}
SEEDS=${SEEDS:-5}
[ -f "$DATA/KDDTest+.txt" ] || { echo "no $DATA: skipped" >&2; exit 0; }
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1
"$V" flows nslkdd "$DATA/KDDTrain+_20Percent.txt" -o "$OUT/train.csv" --labels-out "$OUT/train.labels"
for t in KDDTest+ KDDTest-21; do
    "$V" flows nslkdd "$DATA/$t.txt" -o "$OUT/$t.csv" --labels-out "$OUT/$t.labels"
done

CONFIGS=${CONFIGS:-"mlp
mlp --novelty-k 32 --novelty-q 0.97
mlp --novelty-k 64 --novelty-q 0.97
mlp --novelty-k 64 --novelty-q 0.98
mlp --novelty-k 128 --novelty-q 0.98
rf --trees 100"}

# One line per (config, seed, test): accuracy and recall of classes 0..4.
: >"$OUT/runs"
while read -r model opts; do
    for seed in $(seq 1 "$SEEDS"); do
        m="$OUT/model.vmdl"
        # shellcheck disable=SC2086
        nice "$V" train -q -m "$model" $opts --deltas false --seed "$seed" --train "$OUT/train.csv" \
            --labels "$OUT/train.labels" -o "$m" || continue
        for t in KDDTest+ KDDTest-21; do
            nice "$V" score -q "$m" "$OUT/$t.csv" -o "$OUT/scores.csv" || continue
            "$V" eval --labels "$OUT/$t.labels" --scores "$OUT/scores.csv" >"$OUT/eval.txt"
            acc=$(awk '$1 == "accuracy" {print $2}' "$OUT/eval.txt")
            rec=$(awk '/^per class/ {on = 1; next} on && $1 ~ /^[0-4]$/ {printf "%s ", $5} /^confusion/ {on = 0}' "$OUT/eval.txt")
            echo "$model $opts|$seed|$t|$acc $rec" >>"$OUT/runs"
        done
    done
done <<<"$CONFIGS"

for t in KDDTest+ KDDTest-21; do
    echo
    echo "### $t (5 classes; trained on KDDTrain+_20Percent; seeds 1-$SEEDS)"
    echo
    echo "| model | accuracy mean (min-max) | normal recall | DoS recall | probe recall | R2L recall | U2R recall |"
    echo "|---|---|---|---|---|---|---|"
    while read -r model opts; do
        grep -F "$model $opts|" "$OUT/runs" | awk -F'|' -v t="$t" '$3 == t {print $4}' |
            awk -v name="$model $opts" '
            { n++; a += $1; if (n == 1 || $1 < lo) lo = $1; if ($1 > hi) hi = $1;
              for (c = 0; c < 5; c++) r[c] += $(c + 2) }
            END { if (!n) exit; printf "| %s | %.4f (%.4f-%.4f) |", name, a / n, lo, hi;
                  for (c = 0; c < 5; c++) printf " %.3f |", r[c] / n; printf "\n" }'
    done <<<"$CONFIGS"
done

# The peer in the same run: scikit-learn's MLP(64, 32) on the same converted files.
if [ "${SKLEARN:-1}" = 1 ] && /usr/bin/python3 -c 'import sklearn' 2>/dev/null; then
    echo
    echo "### scikit-learn, same files (seeds 1-$SEEDS)"
    echo
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 nice /usr/bin/python3 tools/nslkdd_sklearn.py "$OUT" "$SEEDS" |
        grep '^|'
fi
