#!/usr/bin/env bash
# Supervised Random Forest on SMD (binary labels), per machine: SMD labels
# only its test half, so (1) the first half of each machine's test file
# trains and the second half is scored (time split, no shuffling), and
# (2) stratified 5-fold cross-validation with contiguous folds runs on the
# whole labelled file (vigil train --cv 5). Both go through the real
# commands. Prints a markdown table.
#
#   bench/rf_smd.sh          MACHINES="machine-1-6 ..." (default: all present)
set -u
cd "$(dirname "$0")/.."
export VIGIL_DATA=${VIGIL_DATA:-../shared/data}
S="$VIGIL_DATA/smd"
[ -d "$S/test" ] || { echo "SMD absent ($S)"; exit 0; }
VIGIL=${VIGIL_BIN:-./vigil}
T=$(mktemp -d /tmp/vigil-smd-XXXXXX)
trap 'rm -rf "$T"' EXIT
MACHINES=${MACHINES:-$(ls "$S/test" | sed 's/\.txt\.gz$//')}
echo "| machine | rows | anomalous (train / test half) | ROC AUC | PR AUC (AP) | best F1 | best F1 point-adjusted | 5-fold CV ROC AUC | 5-fold CV PR AUC |"
echo "|---|---|---|---|---|---|---|---|---|"
for m in $MACHINES; do
    [ -e "$S/test/$m.txt.gz" ] || continue
    zcat "$S/test/$m.txt.gz" >"$T/all.txt"
    cp "$S/test_label/$m.txt" "$T/all.lab"
    n=$(wc -l <"$T/all.txt")
    h=$((n / 2))
    head -n $h "$T/all.txt" >"$T/tr.txt"
    head -n $h "$T/all.lab" >"$T/tr.lab"
    tail -n +$((h + 1)) "$T/all.txt" >"$T/te.txt"
    tail -n +$((h + 1)) "$T/all.lab" >"$T/te.lab"
    atr=$(grep -c '^1' "$T/tr.lab")
    ate=$(grep -c '^1' "$T/te.lab")
    echo '{"binary": null}' >"$T/e.json"
    if [ "$atr" -gt 0 ]; then
        "$VIGIL" train -q -m rf --train "$T/tr.txt" --labels "$T/tr.lab" -o "$T/m.vmdl" || continue
        "$VIGIL" score -q "$T/m.vmdl" "$T/te.txt" -o "$T/s.csv" || continue
        "$VIGIL" eval --json --labels "$T/te.lab" --scores "$T/s.csv" >"$T/e.json"
    fi
    "$VIGIL" train -m rf --cv 5 --train "$T/all.txt" --labels "$T/all.lab" -o "$T/cv.vmdl" >"$T/cv.txt"
    /usr/bin/python3 - "$m" "$n" "$atr" "$ate" "$T/e.json" "$T/cv.txt" <<'EOF'
import json, re, sys
m, n, atr, ate, ej, cv = sys.argv[1:7]
b = json.load(open(ej))["binary"]
f = lambda v: "undefined" if v is None else f"{v:.3f}"
if b is None:  # no anomaly in the training half: nothing to learn from
    b = {"roc_auc": None, "pr_auc_ap": None, "best_f1": {"f1": None}, "best_f1_point_adjusted": {"f1": None}}
    f = lambda v: "n/a"
t = open(cv).read()
def stat(name):
    g = re.search(re.escape(name) + r"\s+([0-9.]+) \+- ([0-9.]+)", t)
    return f"{float(g.group(1)):.3f} ± {float(g.group(2)):.3f}" if g else "undefined"
print(f"| {m} | {n} | {atr} / {ate} | {f(b['roc_auc'])} | {f(b['pr_auc_ap'])} | {f(b['best_f1']['f1'])} | "
      f"{f(b['best_f1_point_adjusted']['f1'])} | {stat('ROC AUC (binary)')} | {stat('PR AUC (AP, binary)')} |")
EOF
done
