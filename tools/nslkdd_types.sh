#!/usr/bin/env bash
# Per attack type on KDDTest+: how many rows of each type one trained model
# calls normal, DoS, probe, R2L and U2R (docs/results.md, "Fifth attempt").
# A breakdown of a configuration already measured by nslkdd_eval.sh (same
# training file, same seed, so the same model), not a means of choosing one.
#
#   CONFIG="mlp --epochs 60 ..." tools/nslkdd_types.sh [OUT_DIR]    SEED=1, MIN=290 rows
set -u
cd "$(dirname "$0")/.." || exit 1
V=${VIGIL_BIN:-$PWD/vigil}
DATA=${VIGIL_DATA:-../shared/data}/nsl-kdd
OUT=${1:-/tmp/vigil-nslkdd-types}
[ -f "$DATA/KDDTest+.txt" ] || { echo "no $DATA: skipped" >&2; exit 0; }
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1
"$V" flows nslkdd "$DATA/KDDTrain+_20Percent.txt" -o "$OUT/train.csv" --labels-out "$OUT/train.labels" 2>/dev/null &&
    "$V" flows nslkdd "$DATA/KDDTest+.txt" -o "$OUT/test.csv" --labels-out "$OUT/test.labels" 2>/dev/null || exit 1
read -r model opts <<<"${CONFIG:-mlp}"
# shellcheck disable=SC2086
nice "$V" train -q -m "$model" $opts --deltas false --seed "${SEED:-1}" --train "$OUT/train.csv" \
    --labels "$OUT/train.labels" -o "$OUT/model.vmdl" &&
    nice "$V" score -q "$OUT/model.vmdl" "$OUT/test.csv" -o "$OUT/scores.csv" || exit 1
echo "type rows: normal dos probe r2l u2r  ($model $opts, seed ${SEED:-1})"
# Score row r is line r of the raw file; the attack name is field 42; the class is the argmax.
awk -F, -v min="${MIN:-290}" '
    FNR == NR { name[FNR] = $42; next }
    FNR == 1 { next }
    { r = FNR - 1; b = 1; for (j = 2; j <= 5; j++) if ($j + 0 > $b + 0) b = j
      c[name[r] SUBSEP (b - 1)]++; t[name[r]]++ }
    END { for (k in t) if (t[k] >= min) { printf "%s %d:", k, t[k]
              for (j = 0; j < 5; j++) printf " %d", c[k SUBSEP j]; print "" } }' \
    "$DATA/KDDTest+.txt" "$OUT/scores.csv" | sort -k2,2nr
