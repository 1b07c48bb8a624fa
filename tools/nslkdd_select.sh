#!/usr/bin/env bash
# Model selection for NSL-KDD without the test set: leave-attack-types-out
# validation on the training file only (docs/results.md, "Threat detection").
#
# KDDTest+ holds attack types absent from training, so a random split of the
# training rows (where every type is known) says little about it. Here each
# fold holds some attack TYPES out of training altogether, like the test set
# does: validation = every row of the held-out types (labelled with their
# class: a held-out DoS must still be called DoS) + every 5th row of the other
# types, training = the remaining rows. The score of a configuration is its
# 5-class validation accuracy, averaged over the folds and SEEDS seeds.
# KDDTest+ is never read.
#
#   tools/nslkdd_select.sh [OUT_DIR]      SEEDS=2; CONFIGS: one "model opts" a line;
#                                         TAUS: decision rules, "argmax" and/or p_0 thresholds
#
# Prints one line per configuration and rule: mean accuracy, min, and the
# mean recall of the held-out rows alone ("novel"). A rule tau calls a row
# normal when p_0 >= tau, else its most likely attack class.
set -u
cd "$(dirname "$0")/.."
V=${VIGIL_BIN:-$PWD/vigil}
DATA=${VIGIL_DATA:-../shared/data}/nsl-kdd
OUT=${1:-/tmp/vigil-nslkdd-select}
SEEDS=${SEEDS:-2}
RAW=$DATA/KDDTrain+_20Percent.txt
[ -f "$RAW" ] || { echo "no $DATA: skipped" >&2; exit 0; }
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1
"$V" flows nslkdd "$RAW" -o "$OUT/all.csv" --labels-out "$OUT/all.labels" 2>/dev/null || exit 1

# Held-out types per fold (neptune, 90% of the DoS rows, always stays in).
FOLDS=(
    "back ipsweep warezclient buffer_overflow pod"
    "smurf portsweep guess_passwd warezmaster rootkit imap"
    "teardrop satan nmap phf multihop loadmodule ftp_write spy land"
)
for i in "${!FOLDS[@]}"; do
    # Row r of all.csv (after its header) is line r of the raw file; the attack name is field 42.
    awk -F, -v held="${FOLDS[$i]}" -v o="$OUT/f$i" '
        BEGIN { n = split(held, h, " "); for (k = 1; k <= n; k++) H[h[k]] = 1 }
        FNR == NR { name[FNR] = $42; next }
        FNR == 1 && FILENAME ~ /csv$/ { print > (o ".train.csv"); print > (o ".val.csv"); next }
        FILENAME ~ /csv$/ { r = FNR - 1; v = (name[r] in H) || r % 5 == 0
                            print > (o (v ? ".val.csv" : ".train.csv")); next }
        { r = FNR; v = (name[r] in H) || r % 5 == 0
          print > (o (v ? ".val.labels" : ".train.labels"))
          if (v) print ((name[r] in H) ? 1 : 0) > (o ".val.novel") }
    ' "$RAW" "$OUT/all.csv" "$OUT/all.labels"
done

CONFIGS=${CONFIGS:-"mlp"}
while read -r model opts; do
    [ -n "$model" ] || continue
    : >"$OUT/acc"
    for i in "${!FOLDS[@]}"; do
        for seed in $(seq 1 "$SEEDS"); do
            # shellcheck disable=SC2086
            nice "$V" train -q -m "$model" $opts --deltas false --seed "$seed" \
                --train "$OUT/f$i.train.csv" --labels "$OUT/f$i.train.labels" -o "$OUT/m.vmdl" ||
                continue
            nice "$V" score -q "$OUT/m.vmdl" "$OUT/f$i.val.csv" -o "$OUT/s.csv" || continue
            # predicted class: normal when p_0 >= tau, else the most likely attack class
            # (tau "argmax": the most likely class); accuracy overall and on held-out rows
            for tau in ${TAUS:-argmax}; do
                awk -F, -v tau="$tau" 'FILENAME == ARGV[1] { y[FNR] = $1; next }
                     FILENAME == ARGV[2] { nov[FNR] = $1; next }
                     FNR == 1 { for (j = 1; j <= NF; j++) if ($j ~ /^p_[0-9]+$/) c[++k] = j; next }
                     { r = FNR - 1; b = 1
                       for (j = 2; j <= k; j++) if ($(c[j]) + 0 > $(c[b]) + 0) b = j
                       if (tau != "argmax") { if ($(c[1]) + 0 >= tau) b = 1; else { b = 2
                           for (j = 3; j <= k; j++) if ($(c[j]) + 0 > $(c[b]) + 0) b = j } }
                       ok = (b - 1 == y[r]); n++; a += ok; if (nov[r]) { nn++; na += ok } }
                     END { printf "%s %.4f %.4f\n", tau, a / n, nn ? na / nn : 0 }' \
                    "$OUT/f$i.val.labels" "$OUT/f$i.val.novel" "$OUT/s.csv" >>"$OUT/acc"
            done
        done
    done
    for tau in ${TAUS:-argmax}; do
        awk -v name="$model $opts" -v tau="$tau" '$1 == tau { n++; a += $2; v += $3; if (n == 1 || $2 < lo) lo = $2 }
            END { if (n) printf "%.4f  min %.4f  novel %.4f  (%d runs)  %s  [normal if p_0 >= %s]\n",
                                a / n, lo, v / n, n, name, tau }' "$OUT/acc"
    done
done <<<"$CONFIGS"
