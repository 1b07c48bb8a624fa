#!/usr/bin/env bash
# Regenerates the SMD table of docs/results.md ("Unsupervised detection
# (SMD)"): trains and scores every detector on the 8 SMD machines with the
# vigil command line, writes the per-feature errors for the root-cause
# figures (vigil explain --errors), then scores everything point-wise and
# runs the scikit-learn PCA peer in the same run (bench/smd_eval.py).
#
#   bench/smd_eval.sh [OUTDIR]        (default /tmp/vigil-smd)
#
# Environment: DETECTORS (default: all six below), MACHINES, THREADS (2),
# REUSE=1 keeps model files already in OUTDIR (re-scoring only). The
# autoencoders take most of the time (a few minutes per machine on 2 shared
# cores); everything runs under nice.
set -u
cd "$(dirname "$0")/.."
if [ $# -eq 0 ] && [ -z "${SMD_EVAL:-}" ]; then
    # `make bench` runs every bench/*.sh: this one takes about an hour.
    echo "smd_eval: about an hour on 2 cores; run 'bench/smd_eval.sh OUTDIR' (or SMD_EVAL=1)"
    exit 0
fi
OUT=${1:-/tmp/vigil-smd}
DATA=${VIGIL_DATA:-../shared/data}/smd
THREADS=${THREADS:-2}
MACHINES=${MACHINES:-machine-1-6 machine-1-7 machine-2-1 machine-2-2 machine-2-7 machine-2-8 machine-3-3 machine-3-4}
DETECTORS=${DETECTORS:-pca kmeans lstm-ae pca-ns kmeans-ns lstm-ae-ns}
[ -d "$DATA/train" ] || { echo "smd_eval: $DATA missing, skipped"; exit 0; }
mkdir -p "$OUT"
# A private copy of the binary: rebuilding the tree during a long run must not change it.
make -s vigil >/dev/null || exit 1
cp build/vigil "$OUT/vigil"
V="$OUT/vigil"

# flags DETECTOR: the model and its options. "-ns" = per-feature error
# normalization and a 15-row moving average (chosen on machines 1-6..2-2).
flags() {
    case $1 in
    pca) echo "-m pca" ;;
    kmeans) echo "-m kmeans" ;;
    lstm-ae) echo "-m lstm-ae --threads $THREADS" ;;
    pca-ns) echo "-m pca --normalize true --smooth 15" ;;
    kmeans-ns) echo "-m kmeans --normalize true --smooth 15" ;;
    lstm-ae-ns) echo "-m lstm-ae --threads $THREADS --normalize true --smooth 15" ;;
    *) echo "unknown detector $1" >&2; return 1 ;;
    esac
}

echo "commit $(git rev-parse --short HEAD), $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
for d in $DETECTORS; do
    f=$(flags "$d") || exit 1
    mkdir -p "$OUT/$d"
    for m in $MACHINES; do
        model="$OUT/$d/$m.vmdl"
        if [ "${REUSE:-0}" != 1 ] || [ ! -s "$model" ]; then
            t0=$(date +%s.%N)
            # shellcheck disable=SC2086
            nice "$V" train -q $f --train "$DATA/train/$m.txt.gz" -o "$model" || exit 1
            printf '%s %s trained in %.1f s\n' "$d" "$m" "$(echo "$(date +%s.%N) - $t0" | bc)"
        fi
        nice "$V" score -q "$model" "$DATA/test/$m.txt.gz" -o "$OUT/$d/$m.csv" || exit 1
        nice "$V" explain -q "$model" "$DATA/test/$m.txt.gz" --errors "$OUT/$d/$m.errors.csv" || exit 1
    done
done
dets=$(echo "$DETECTORS" | tr ' ' ',')
nice /usr/bin/python3 bench/smd_eval.py --data "$DATA" --out "$OUT" --detectors "$dets" \
    --machines "$(echo "$MACHINES" | tr ' ' ',')"
