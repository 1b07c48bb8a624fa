#!/usr/bin/env bash
# What helps the Random Forest on ITU PS-015 02_b (train on train, score test):
# temporal features (--temporal k), class weights, more trees, exact splits,
# and per-VNF models (a copy of the data with Prometheus-style column names
# vnf="udm|amf|ausf" so that --per-entity gives one forest per VNF). Every
# configuration runs through the real commands (vigil train, score, eval) with
# SEEDS seeds; the table gives the median binary ROC AUC, PR AUC (AP) and
# macro-F1 on the test file, and the median per-class AP.
#
#   bench/rf_itu_study.sh               SEEDS="1 2 3"; PART=lags: only the context study
set -u
cd "$(dirname "$0")/.."
export VIGIL_DATA=${VIGIL_DATA:-../shared/data}
D="$VIGIL_DATA/itu-5gc-nfv-failure/ap_data"
[ -e "$D/02_b_train_data.txt" ] || { echo "ITU data absent ($D)"; exit 0; }
VIGIL=${VIGIL_BIN:-./vigil}
SEEDS=${SEEDS:-1 2 3}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/vigil-itu-XXXXXX)
trap 'rm -rf "$T"' EXIT

# Named copy (derived, temporary): columns per the dataset README.
$PY - "$D" "$T" <<'EOF'
import sys
d, t = sys.argv[1], sys.argv[2]
v = ["udm", "amf", "ausf"]
h = [f'oper_status{{vnf="{x}"}}' for x in v] + [f'in_octets{{vnf="{x}"}}' for x in v] + \
    [f'out_octets{{vnf="{x}"}}' for x in v]
for x in v:
    for c in "01":
        h += [f'cpu_{m}{{vnf="{x}",core="{c}"}}' for m in ("user", "system", "idle")]
for x in v:
    h += [f'memory_status{{vnf="{x}"}}', f'memory_used_ratio{{vnf="{x}"}}']
for p in ("train", "test"):
    with open(f"{t}/named_{p}.txt", "w") as o:
        o.write(" ".join(h) + "\n")
        o.write(open(f"{d}/02_b_{p}_data.txt").read())
EOF

run() { # name data_prefix flags...
    local name=$1 pre=$2; shift 2
    for s in $SEEDS; do
        if [ "$pre" = named ]; then tr="$T/named_train.txt" te="$T/named_test.txt"; else
            tr="$D/02_b_train_data.txt" te="$D/02_b_test_data.txt"; fi
        "$VIGIL" train -q -m rf --seed "$s" "$@" --train "$tr" --labels "$D/02_b_train_label.txt" \
            -o "$T/m.vmdl" || return
        "$VIGIL" score -q "$T/m.vmdl" "$te" -o "$T/s.csv" || return
        "$VIGIL" eval --json --labels "$D/02_b_test_label.txt" --scores "$T/s.csv" >>"$T/$name.jsonl"
    done
    echo "$name|$*" >>"$T/order"
}

if [ "${PART:-all}" != lags ]; then
run base raw
for k in 1 2 3 5 10 20; do run "temporal$k" raw --temporal "$k"; done
run balanced raw --class-weight balanced
run balanced_t5 raw --class-weight balanced --temporal 5
run trees100 raw --trees 100
run trees100_t5 raw --trees 100 --temporal 5
run exact raw --bins 0
run leaf5_t5 raw --temporal 5 --min-samples-leaf 5
run named named
run pervnf named --per-entity --entity-labels vnf
run pervnf_t5 named --per-entity --entity-labels vnf --temporal 5
fi
# Longer context (PART=lags runs only these): lags 2..L, rolling min/max.
run t5 raw --temporal 5
for l in 3 6 12; do run "t5_lags$l" raw --temporal 5 --lags "$l"; done
run lags12 raw --lags 12
run t5_minmax raw --temporal 5 --minmax true
run t5_lags6_minmax raw --temporal 5 --lags 6 --minmax true
run trees100_t5_again raw --trees 100 --temporal 5
run trees100_t5_lags6 raw --trees 100 --temporal 5 --lags 6
run trees100_t5_lags6_minmax raw --trees 100 --temporal 5 --lags 6 --minmax true

$PY - "$T" <<'EOF'
import json, statistics, sys
t = sys.argv[1]
print("| configuration | flags | ROC AUC | PR AUC (AP) | macro-F1 | AP per class 1..5 |")
print("|---|---|---|---|---|---|")
for line in open(t + "/order"):
    name, flags = line.rstrip("\n").split("|", 1)
    rs = [json.loads(l) for l in open(f"{t}/{name}.jsonl")]
    med = lambda f: statistics.median(f(r) for r in rs)
    roc = med(lambda r: r["binary"]["roc_auc"]); ap = med(lambda r: r["binary"]["pr_auc_ap"])
    f1 = med(lambda r: r["macro_f1"])
    cls = " ".join(f"{med(lambda r: r['per_class'][c]['pr_auc_ap']):.2f}" for c in range(1, 6))
    print(f"| {name} | `{flags.strip()}` | {roc:.3f} | {ap:.3f} | {f1:.3f} | {cls} |")
print(f"\n(median over {len(rs)} seeds)")
EOF
