#!/usr/bin/env bash
# vigil's Random Forest against Debian's scikit-learn RandomForestClassifier,
# same data files, same settings (Gini, sqrt features, bootstrap, grown to
# purity, seed 1), in the same run:
#   (a) ITU PS-015 02_b (6 classes), 10 trees     (skipped without $VIGIL_DATA)
#   (b) synthetic 10,240 x 64, 100 trees
#   (c) synthetic 100,000 x 152, 10 trees
# Each side reports training time with 1 and 2 threads (median of RUNS),
# batch and single-row prediction time, and test ROC AUC / PR AUC (AP) /
# macro-F1; the table at the end gives the ratios sklearn / vigil.
#
#   bench/rf_vs_sklearn.sh            RUNS=5 (c: RUNS_BIG=3); CASES="itu syn10k syn100k"
set -u
cd "$(dirname "$0")/.."
B=${VIGIL_BUILD:-build}
RUNS=${RUNS:-5}
RUNS_BIG=${RUNS_BIG:-3}
CASES=${CASES:-itu syn10k syn100k}
export VIGIL_DATA=${VIGIL_DATA:-../shared/data}
PY=/usr/bin/python3
[ -x "$B/bench/bench_rf" ] || make -s "$B/bench/bench_rf" >/dev/null
DIR=$(mktemp -d /tmp/vigil-rfbench-XXXXXX)
trap 'rm -rf "$DIR"' EXIT
nice $PY bench/rf_sklearn.py gen "$DIR" || exit 1
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cpus;" \
     "load $(cut -d' ' -f1-3 /proc/loadavg); vigil $(git rev-parse --short HEAD 2>/dev/null)"
for c in $CASES; do
    case $c in
        itu) trees=10 runs=$RUNS ;;
        syn10k) trees=100 runs=$RUNS ;;
        syn100k) trees=10 runs=$RUNS_BIG ;;
        *) echo "unknown case $c"; continue ;;
    esac
    [ -e "$DIR/$c.xtr" ] || { echo "# $c: data absent, skipped"; continue; }
    nice "$B/bench/bench_rf" --data "$DIR" --name "$c" --trees $trees --runs $runs >>"$DIR/vigil.jsonl" ||
        echo "# $c: bench_rf failed validation"
    if [ "$c" = itu ]; then # exact splits too, for the same-algorithm comparison
        nice "$B/bench/bench_rf" --data "$DIR" --name "$c" --trees $trees --runs $runs --bins 0 >>"$DIR/vigil.jsonl"
    fi
    nice $PY bench/rf_sklearn.py run "$DIR" "$c" $trees $runs >>"$DIR/sklearn.jsonl" 2>/dev/null ||
        echo "# $c: sklearn failed"
done
# Quality over seeds (ITU: is vigil's PR AUC within 0.01 of sklearn's?).
if [ -e "$DIR/itu.xtr" ]; then
    SEEDS=${SEEDS:-10}
    nice "$B/bench/bench_rf" --data "$DIR" --name itu --trees 10 --quality-seeds $SEEDS >"$DIR/q.jsonl"
    nice "$B/bench/bench_rf" --data "$DIR" --name itu --trees 10 --quality-seeds $SEEDS --bins 0 >>"$DIR/q.jsonl"
    nice $PY bench/rf_sklearn.py quality "$DIR" itu 10 $SEEDS >>"$DIR/q.jsonl" 2>/dev/null
    echo "ITU 02_b, 10 trees, $SEEDS seeds each: median test figures"
    $PY - "$DIR/q.jsonl" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    j = json.loads(l)
    tag = j["impl"] + ("" if j.get("bins", 1) else " exact")
    print(f"  {tag:14s} ROC AUC {j['roc_auc_median']:.4f}  PR AUC (AP) {j['ap_median']:.4f}  "
          f"macro-F1 {j['macro_f1_median']:.4f}  AP per seed {j['ap']}")
EOF
fi
$PY - "$DIR" <<'EOF'
import json, sys
d = sys.argv[1]
v = [json.loads(l) for l in open(d + "/vigil.jsonl")]
s = {j["data"]: j for j in map(json.loads, open(d + "/sklearn.jsonl"))}
print("fit: wall seconds (1 thread: also CPU seconds); batch: us per row, wall and CPU on 1 thread")
print("(sklearn n_jobs=1), wall on 2 threads (sklearn n_jobs=2);")
print("1-row: wall us per single-row call, median and p99; test ROC AUC, PR AUC (AP), macro-F1")
print(f"{'case':8s} {'impl':16s} {'fit 1t':>8s} {'cpu 1t':>8s} {'fit 2t':>8s} {'batch':>8s} {'b cpu':>8s} {'b 2t':>8s} "
      f"{'1-row':>8s} {'p99':>8s} {'ROC AUC':>8s} {'PR AUC':>7s} {'mF1':>6s}")
def row(case, name, j):
    print(f"{case:8s} {name:16s} {j['fit_s_1t']:8.3f} {j['fit_cpu_s_1t']:8.3f} {j['fit_s_2t']:8.3f} "
          f"{j['batch_us_per_row']:8.3f} {j['batch_cpu_us_per_row']:8.3f} {j['batch_us_per_row_2t']:8.3f} "
          f"{j['single_us_median']:8.2f} {j['single_us_p99']:8.1f} {j['roc_auc']:8.4f} {j['ap']:7.4f} {j['macro_f1']:6.4f}")
for j in v:
    k = s.get(j["data"])
    tag = "vigil" + ("" if j["bins"] else " exact")
    row(j["data"], tag, j)
    if k and j["bins"]:
        row(j["data"], k["impl"], k)
        r = lambda a: k[a] / j[a]
        print(f"{'':8s} {'sklearn/vigil':16s} {r('fit_s_1t'):7.1f}x {r('fit_cpu_s_1t'):7.1f}x {r('fit_s_2t'):7.1f}x "
              f"{r('batch_us_per_row'):7.1f}x {r('batch_cpu_us_per_row'):7.1f}x {r('batch_us_per_row_2t'):7.1f}x "
              f"{r('single_us_median'):7.0f}x")
EOF
