#!/usr/bin/env bash
# vigil's LSTM autoencoder beside the same architecture in PyTorch
# (Debian's python3-torch), on the same windows of SMD machine-1-6, in one
# run: loss after the same epochs, time per epoch, batch scoring time per
# window and single-window latency, at 1 and 2 threads each. Prints the raw
# outputs, then one summary table (best thread count of each side).
#
#   bench/ae_vs_torch.sh [EPOCHS] [ROWS]      (defaults 3 and all rows)
#
# Runs under nice; about 4 minutes with the defaults on 2 cores.
set -u
cd "$(dirname "$0")/.."
EPOCHS=${1:-3}
ROWS=${2:-0}
DATA=${VIGIL_DATA:-../shared/data}/smd/train/machine-1-6.txt.gz
BENCH=${BENCH:-${VIGIL_BUILD:-build}/bench/bench_lstm_ae}
PY=/usr/bin/python3
[ -x "$BENCH" ] || make -s "$BENCH" || exit 1
if [ ! -e "$DATA" ]; then echo "ae_vs_torch: $DATA missing, skipped"; exit 0; fi
if ! $PY -c 'import torch' 2>/dev/null; then echo "ae_vs_torch: no torch in $PY, skipped"; exit 0; fi
OUT=$(mktemp -d /tmp/ae_vs_torch-XXXXXX)
trap 'rm -rf "$OUT"' EXIT
echo "commit $(git rev-parse --short HEAD 2>/dev/null), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)," \
     "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for th in 1 2; do
    echo "== vigil, $th thread(s)"
    nice "$BENCH" --data "$DATA" --epochs "$EPOCHS" --threads "$th" --rows "$ROWS" --reps 500 \
        | tee "$OUT/vigil$th"
    echo "== torch, $th thread(s)"
    nice $PY bench/ae_vs_torch.py "$DATA" --epochs "$EPOCHS" --threads "$th" --rows "$ROWS" \
        --reps 200 | tee "$OUT/torch$th"
done
# field extraction: train us/window, final loss, batch us/window, single-window median us,
# sliding-window median us (vigil only: consecutive windows of a live stream; "-" for torch)
get() { # file
    awk '/^train:/ { for (i = 1; i <= NF; i++) { if ($i == "us/window,") tr = $(i-1); if ($i == "loss") fl = $(i+1) } }
         /^score batch:/ { for (i = 1; i <= NF; i++) if ($i == "us/window") sb = $(i-1) }
         /^score one window:/ { for (i = 1; i <= NF; i++) if ($i == "median") so = $(i+1) }
         /^score sliding window:/ { for (i = 1; i <= NF; i++) if ($i == "median") ss = $(i+1) }
         END { print tr, fl, sb, so, (ss == "" ? "-" : ss) }' "$1"
}
echo
echo "== summary (best of 1 and 2 threads per side; times per window)"
printf '%-8s %8s %14s %12s %14s %14s %14s\n' side threads "train us/win" "final loss" "score us/win" \
    "one window us" "sliding us"
for side in vigil torch; do
    for th in 1 2; do
        read -r tr fl sb so ss <<<"$(get "$OUT/$side$th")"
        printf '%-8s %8s %14s %12s %14s %14s %14s\n' "$side" "$th" "$tr" "$fl" "$sb" "$so" "$ss"
    done
done
read -r vt1 vl1 vb1 vo1 vs1 <<<"$(get "$OUT/vigil1")"
read -r vt2 vl2 vb2 vo2 vs2 <<<"$(get "$OUT/vigil2")"
read -r tt1 tl1 tb1 to1 _ <<<"$(get "$OUT/torch1")"
read -r tt2 tl2 tb2 to2 _ <<<"$(get "$OUT/torch2")"
awk -v vt1="$vt1" -v vt2="$vt2" -v tt1="$tt1" -v tt2="$tt2" -v vo1="$vo1" -v vo2="$vo2" \
    -v to1="$to1" -v to2="$to2" -v vb1="$vb1" -v vb2="$vb2" -v tb1="$tb1" -v tb2="$tb2" \
    -v vs1="$vs1" -v vs2="$vs2" \
    -v vl="$vl2" -v tl="$tl2" 'function min(a, b) { return a < b ? a : b }
    BEGIN {
        printf "training speed-up (best vs best): %.1fx\n", min(tt1, tt2) / min(vt1, vt2)
        printf "batch scoring speed-up: %.1fx\n", min(tb1, tb2) / min(vb1, vb2)
        printf "single-window speed-up: %.1fx (vigil %.1f us)\n", min(to1, to2) / min(vo1, vo2), min(vo1, vo2)
        printf "sliding-window speed-up: %.1fx (vigil %.1f us)\n", min(to1, to2) / min(vs1, vs2), min(vs1, vs2)
        printf "final loss, 2 threads: vigil %.6f torch %.6f (%+.1f%%)\n", vl, tl, (vl - tl) / tl * 100
    }'
