#!/usr/bin/env bash
# ITU PS-015 02_b with settings chosen on the TRAIN split only (the test file
# is scored once per seed, after every choice is made):
#   1. out-of-fold scores on train: FOLDS contiguous folds, each scored by a
#      forest trained on the other rows (vigil train/score), for every
#      configuration in CONFIGS; the table gives their out-of-fold binary PR
#      AUC (AP) and macro-F1 (vigil eval on the train labels);
#   2. the configuration with the best out-of-fold AP is kept, and per-class
#      weights w_c (pred = argmax_c w_c p_c, a class-prior correction) are
#      fitted to its out-of-fold scores by coordinate search for macro-F1;
#   3. that configuration is trained on all of train with SEEDS seeds, the test
#      file is scored as is and with `vigil score --class-weights`, and vigil
#      eval reports both.
# "vdiff" configurations add, as derived columns of a temporary copy, the
# difference between every pair of VNFs for each of the 11 per-VNF metrics.
#
#   bench/rf_itu_tune.sh       FOLDS=5 SEEDS="1 2 3" CONFIGS=... (see below)
set -u
cd "$(dirname "$0")/.."
export VIGIL_DATA=${VIGIL_DATA:-../shared/data}
D="$VIGIL_DATA/itu-5gc-nfv-failure/ap_data"
[ -e "$D/02_b_train_data.txt" ] || { echo "ITU data absent ($D)"; exit 0; }
VIGIL=${VIGIL_BIN:-./vigil}
FOLDS=${FOLDS:-5}
SEEDS=${SEEDS:-1 2 3}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/vigil-itutune-XXXXXX)
trap 'rm -rf "$T"' EXIT
# name|data (raw or vdiff)|flags
CONFIGS=${CONFIGS:-"t5_lags6|raw|--trees 100 --temporal 5 --lags 6
t10_lags6|raw|--trees 100 --temporal 10 --lags 6
t5_lags6_minmax|raw|--trees 100 --temporal 5 --lags 6 --minmax true
t10_lags12|raw|--trees 100 --temporal 10 --lags 12
t5_lags6_leaf3|raw|--trees 100 --temporal 5 --lags 6 --min-samples-leaf 3
t5_lags6_vdiff|vdiff|--trees 100 --temporal 5 --lags 6"}

# Fold files and the derived copies (temporary, never in the repo).
$PY - "$D" "$T" "$FOLDS" <<'EOF'
import sys
d, t, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
def vdiff(line):  # per VNF (udm, amf, ausf): 11 metrics in the dataset's column order
    v = line.split()
    cols = [[0, 3, 6] + list(range(9 + 6 * i, 15 + 6 * i)) + [27 + 2 * i, 28 + 2 * i] for i in range(3)]
    extra = [float(v[cols[a][m]]) - float(v[cols[b][m]])
             for a, b in ((0, 1), (0, 2), (1, 2)) for m in range(11)]
    return " ".join(v + [repr(e) for e in extra]) + "\n"
for kind in ("raw", "vdiff"):
    f = (lambda l: l) if kind == "raw" else vdiff
    x = [f(l) for l in open(f"{d}/02_b_train_data.txt") if l.strip()]
    y = [l for l in open(f"{d}/02_b_train_label.txt") if l.strip()]
    assert len(x) == len(y)
    open(f"{t}/{kind}_test.txt", "w").writelines(f(l) for l in open(f"{d}/02_b_test_data.txt") if l.strip())
    open(f"{t}/{kind}_train.txt", "w").writelines(x)
    n = len(x)
    for i in range(k):
        a, b = n * i // k, n * (i + 1) // k
        open(f"{t}/{kind}_f{i}_x.txt", "w").writelines(x[:a] + x[b:])
        open(f"{t}/{kind}_f{i}_y.txt", "w").writelines(y[:a] + y[b:])
        open(f"{t}/{kind}_f{i}_hold.txt", "w").writelines(x[a:b])
EOF

# 1. Out-of-fold scores per configuration (seed 1).
echo "$CONFIGS" | while IFS='|' read -r name data flags; do
    for ((i = 0; i < FOLDS; i++)); do
        nice "$VIGIL" train -q -m rf --seed 1 $flags --train "$T/${data}_f${i}_x.txt" \
            --labels "$T/${data}_f${i}_y.txt" -o "$T/m.vmdl" || exit 1
        nice "$VIGIL" score -q "$T/m.vmdl" "$T/${data}_f${i}_hold.txt" -o "$T/oof_${name}_$i.csv" || exit 1
    done
    { head -1 "$T/oof_${name}_0.csv"; for ((i = 0; i < FOLDS; i++)); do tail -n +2 "$T/oof_${name}_$i.csv"; done; } \
        >"$T/oof_$name.csv"
    "$VIGIL" eval --json --labels "$D/02_b_train_label.txt" --scores "$T/oof_$name.csv" >"$T/oof_$name.json"
    echo "$name|$data|$flags" >>"$T/order"
done

# 2. Pick the configuration, fit the class weights on its out-of-fold scores.
$PY - "$T" "$D" <<'EOF' || exit 1
import json, sys
import numpy as np
t, d = sys.argv[1], sys.argv[2]
y = np.loadtxt(f"{d}/02_b_train_label.txt", dtype=int)
print("out-of-fold on train (seed 1):")
print("| configuration | flags | OOF ROC AUC | OOF PR AUC (AP) | OOF macro-F1 |")
print("|---|---|---|---|---|")
best = None
for line in open(t + "/order"):
    name, data, flags = line.rstrip("\n").split("|", 2)
    j = json.load(open(f"{t}/oof_{name}.json"))
    ap = j["binary"]["pr_auc_ap"]
    print(f"| {name} | `{flags}` | {j['binary']['roc_auc']:.3f} | {ap:.3f} | {j['macro_f1']:.3f} |")
    if best is None or ap > best[1]:
        best = (name, ap, data, flags)
name = best[0]
p = np.genfromtxt(f"{t}/oof_{name}.csv", delimiter=",", names=True)
cols = [c for c in p.dtype.names if c.startswith("p_")]
P = np.stack([p[c] for c in cols], 1)
cls = np.array([int(c[2:]) for c in cols])
def macro_f1(w):
    pred = cls[np.argmax(P * w, 1)]
    f = []
    for c in np.unique(y):
        tp = np.sum((pred == c) & (y == c)); fp = np.sum((pred == c) & (y != c)); fn = np.sum((pred != c) & (y == c))
        f.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(f))
w = np.ones(len(cls))
grid = [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32]
cur = macro_f1(w)
for sweep in range(3):
    for c in range(1, len(cls)):
        for g in grid:
            v = w.copy(); v[c] = g
            s = macro_f1(v)
            if s > cur + 1e-9:
                cur, w = s, v
print(f"\nkept: {name} (best OOF AP); class weights fitted on its OOF scores: "
      f"{' '.join(f'{x:g}' for x in w)} (OOF macro-F1 {macro_f1(np.ones(len(cls))):.3f} -> {cur:.3f})")
open(f"{t}/kept", "w").write(f"{name}|{best[2]}|{best[3]}\n")
np.savetxt(f"{t}/weights", w, fmt="%g")
EOF

# 3. Train on all of train, score test once per seed; eval as is and re-weighted.
IFS='|' read -r name data flags <"$T/kept"
W=$(paste -sd, "$T/weights")
for s in $SEEDS; do
    nice "$VIGIL" train -q -m rf --seed "$s" $flags --train "$T/${data}_train.txt" \
        --labels "$D/02_b_train_label.txt" -o "$T/m.vmdl" || exit 1
    nice "$VIGIL" score -q "$T/m.vmdl" "$T/${data}_test.txt" -o "$T/test.csv" || exit 1
    "$VIGIL" eval --json --labels "$D/02_b_test_label.txt" --scores "$T/test.csv" >>"$T/test_raw.jsonl"
    nice "$VIGIL" score -q --class-weights "$W" "$T/m.vmdl" "$T/${data}_test.txt" -o "$T/test_w.csv" || exit 1
    "$VIGIL" eval --json --labels "$D/02_b_test_label.txt" --scores "$T/test_w.csv" >>"$T/test_w.jsonl"
done
$PY - "$T" "$name" "$flags" <<'EOF'
import json, statistics, sys
t, name, flags = sys.argv[1:]
print(f"\ntest (train on all of train; median over seeds), {name}: `{flags}`")
print("| predictions | ROC AUC | PR AUC (AP) | macro-F1 | F1 per class 1..5 | AP per class 1..5 |")
print("|---|---|---|---|---|---|")
for tag, f in (("argmax", "test_raw"), ("argmax of weighted p", "test_w")):
    rs = [json.loads(l) for l in open(f"{t}/{f}.jsonl")]
    med = lambda g: statistics.median(g(r) for r in rs)
    f1c = " ".join(f"{med(lambda r: r['per_class'][c]['f1']):.2f}" for c in range(1, 6))
    apc = " ".join(f"{med(lambda r: r['per_class'][c]['pr_auc_ap']):.2f}" for c in range(1, 6))
    print(f"| {tag} | {med(lambda r: r['binary']['roc_auc']):.3f} | {med(lambda r: r['binary']['pr_auc_ap']):.3f} "
          f"| {med(lambda r: r['macro_f1']):.3f} | {f1c} | {apc} |")
print(f"({len(rs)} seeds)")
EOF
