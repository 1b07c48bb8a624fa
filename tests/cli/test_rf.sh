#!/usr/bin/env bash
# vigil train / score / eval with the random forest (and one unsupervised
# model, to show the commands are generic): round trip, determinism, the
# evaluation outputs, and every error path the issue names (label rows,
# schema mismatch, corrupt and truncated model files, missing files, usage).
. "$(dirname "$0")/lib.sh"

# Synthetic data: 3 classes, class c raises column c; a header with two VMs.
gen() { # rows seed -> data.csv on stdout, labels in $TMP/$3
    awk -v n="$1" -v seed="$2" -v lab="$3" 'BEGIN {
        srand(seed);
        print "cpu{vm=\"a\"},net{vm=\"a\"},cpu{vm=\"b\"},net{vm=\"b\"}";
        for (i = 0; i < n; i++) {
            y = (i % 10 == 3) ? 1 : ((i % 10 == 7) ? 2 : 0);
            printf "%s\n", y > lab;
            for (j = 0; j < 4; j++) {
                v = rand() + rand() + rand();
                if (j == y && y > 0) v += 2.5;
                printf "%s%.4f", (j ? "," : ""), v;
            }
            printf "\n";
        }
    }'
}
gen 600 1 "$TMP/train.lab" >"$TMP/train.csv"
gen 300 2 "$TMP/test.lab" >"$TMP/test.csv"

expect_exit 0 "train rf" "$VIGIL" train -m rf --trees 20 --seed 7 --train "$TMP/train.csv" \
    --labels "$TMP/train.lab" -o "$TMP/m.vmdl"
expect_out "train reports what it did" "trained rf on 600 rows x 4 features" \
    "$VIGIL" train -m rf --trees 20 --seed 7 --train "$TMP/train.csv" --labels "$TMP/train.lab" \
    -o "$TMP/m2.vmdl"
expect_exit 0 "score" "$VIGIL" score "$TMP/m.vmdl" "$TMP/test.csv" -o "$TMP/s.csv"
if [ "$(head -n 1 "$TMP/s.csv")" = "p_0,p_1,p_2,pred" ]; then ok "score header p_<class>, pred"; else
    not_ok "score header" "$(head -n 1 "$TMP/s.csv")"; fi
if [ "$(($(wc -l <"$TMP/s.csv") - 1))" -eq 300 ]; then ok "one score row per input row"; else
    not_ok "one score row per input row" "$(wc -l <"$TMP/s.csv")"; fi
expect_out "eval prints the binary areas" "PR AUC \(average precision\) +0\.9" \
    "$VIGIL" eval --labels "$TMP/test.lab" --scores "$TMP/s.csv"
expect_out "eval prints macro-F1 and the confusion matrix" "confusion matrix" \
    "$VIGIL" eval --labels "$TMP/test.lab" --scores "$TMP/s.csv"
"$VIGIL" eval --labels "$TMP/test.lab" --scores "$TMP/s.csv" --json >"$TMP/e.json" 2>&1
if /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["binary"]["roc_auc"] > 0.9; assert len(d["confusion"]) == 3' "$TMP/e.json" 2>/dev/null; then
    ok "eval --json is JSON with the figures"; else not_ok "eval --json" "$(head -c 300 "$TMP/e.json")"; fi
expect_exit 0 "eval --plot" "$VIGIL" eval --labels "$TMP/test.lab" --scores "$TMP/s.csv" --plot "$TMP/plots"
for f in roc.csv pr.csv roc.png pr.png; do
    if [ -s "$TMP/plots/$f" ]; then ok "plot wrote $f"; else not_ok "plot wrote $f"; fi
done
if head -c 8 "$TMP/plots/roc.png" | od -An -c | grep -q 'P   N   G'; then ok "roc.png is a PNG"; else
    not_ok "roc.png is a PNG"; fi

# --class-weights re-picks pred as argmax w_c p_c; probabilities unchanged.
"$VIGIL" score -q "$TMP/m.vmdl" "$TMP/test.csv" --class-weights 1,1,1 -o "$TMP/w1.csv"
if cmp -s "$TMP/s.csv" "$TMP/w1.csv"; then ok "class weights all 1: the same scores"; else
    not_ok "class weights all 1: the same scores"; fi
"$VIGIL" score -q "$TMP/m.vmdl" "$TMP/test.csv" --class-weights 0.5,0,3 -o "$TMP/w2.csv"
check_w2() { awk -F, 'NR > 1 { want = ($3 * 3 > $1 * 0.5) ? 2 : 0; bad += ($4 != want) }
        END { exit bad != 0 }' "$1"; }
if check_w2 "$TMP/w2.csv" && ! check_w2 "$TMP/s.csv" &&
    [ "$(cut -d, -f1-3 "$TMP/w2.csv")" = "$(cut -d, -f1-3 "$TMP/s.csv")" ]; then
    ok "class weights 0.5,0,3: pred = argmax w_c p_c, p_c unchanged"; else
    not_ok "class weights 0.5,0,3" "$(head -5 "$TMP/w2.csv")"; fi
expect_exit 2 "class weights: one per class" "$VIGIL" score -q "$TMP/m.vmdl" "$TMP/test.csv" \
    --class-weights 1,2 -o "$TMP/x.csv"
expect_exit 2 "class weights: numbers >= 0" "$VIGIL" score -q "$TMP/m.vmdl" "$TMP/test.csv" \
    --class-weights 1,-2,1 -o "$TMP/x.csv"

# Determinism: same seed and data, any thread count, same bytes.
"$VIGIL" train -q -m rf --trees 20 --seed 7 --threads 2 --train "$TMP/train.csv" \
    --labels "$TMP/train.lab" -o "$TMP/m3.vmdl"
if cmp -s "$TMP/m.vmdl" "$TMP/m3.vmdl"; then ok "same seed, 1 or 2 threads: identical files"; else
    not_ok "same seed, 1 or 2 threads: identical files"; fi
"$VIGIL" train -q -m rf --trees 20 --seed 8 --train "$TMP/train.csv" --labels "$TMP/train.lab" \
    -o "$TMP/m4.vmdl"
if ! cmp -s "$TMP/m.vmdl" "$TMP/m4.vmdl"; then ok "another seed: another model"; else
    not_ok "another seed: another model"; fi

# Options from the model's table, the chain and a config file.
printf 'rf:\n  trees: 3\n  criterion: entropy\nprep:\n  temporal: 2\n' >"$TMP/c.yaml"
expect_out "config file sets model and prep options" "trained rf on 600 rows x 20 features" \
    "$VIGIL" train -m rf -c "$TMP/c.yaml" --train "$TMP/train.csv" --labels "$TMP/train.lab" -o "$TMP/c.vmdl"
expect_out "flags override the config" "trees = 5" sh -c "'$VIGIL' train -q -m rf -c '$TMP/c.yaml' --trees 5 \
    --train '$TMP/train.csv' --labels '$TMP/train.lab' -o '$TMP/c.vmdl' && strings '$TMP/c.vmdl'"
printf 'rf:\n  tress: 3\n' >"$TMP/bad.yaml"
expect_out "unknown config key names file and line" "bad.yaml:2.*tress" \
    "$VIGIL" train -m rf -c "$TMP/bad.yaml" --train "$TMP/train.csv" --labels "$TMP/train.lab" -o "$TMP/x.vmdl"
expect_out "cross-validation" "3-fold cross-validation" \
    "$VIGIL" train -m rf --cv 3 --train "$TMP/train.csv" --labels "$TMP/train.lab" -o "$TMP/cv.vmdl"
expect_out "per-entity: one model per VM" "entity b: 2 features" \
    "$VIGIL" train -m rf --per-entity --entity-labels vm --train "$TMP/train.csv" \
    --labels "$TMP/train.lab" -o "$TMP/pe.vmdl"
expect_exit 0 "per-entity score" "$VIGIL" score "$TMP/pe.vmdl" "$TMP/test.csv" -o "$TMP/pe.csv"
if [ "$(head -n 1 "$TMP/pe.csv")" = "p_0,p_1,p_2,pred,anomaly@a,anomaly@b" ]; then
    ok "per-entity columns"; else not_ok "per-entity columns" "$(head -n 1 "$TMP/pe.csv")"; fi
expect_out "rf options in help" "min-samples-leaf" "$VIGIL" help rf
expect_out "train -m rf --help lists model options" "max-features" "$VIGIL" train -m rf --help

# Generic: an unsupervised model goes through the same commands.
expect_exit 0 "train pca (unsupervised, no labels)" "$VIGIL" train -q -m pca --train "$TMP/train.csv" -o "$TMP/p.vmdl"
expect_exit 0 "score pca" "$VIGIL" score "$TMP/p.vmdl" "$TMP/test.csv" -o "$TMP/p.csv"
expect_exit 1 "class weights need class probabilities" "$VIGIL" score -q "$TMP/p.vmdl" \
    "$TMP/test.csv" --class-weights 1,1 -o "$TMP/x.csv"
expect_out "eval uses the score column" "anomaly score: score" \
    "$VIGIL" eval --labels "$TMP/test.lab" --scores "$TMP/p.csv"

# Errors: label rows, schema, model files, missing files, usage.
head -n 599 "$TMP/train.lab" >"$TMP/short.lab"
expect_exit 1 "too few labels" "$VIGIL" train -m rf --train "$TMP/train.csv" --labels "$TMP/short.lab" -o "$TMP/x.vmdl"
expect_out "too few labels: says both counts" "599 labels, but .* has 600 data rows" \
    "$VIGIL" train -m rf --train "$TMP/train.csv" --labels "$TMP/short.lab" -o "$TMP/x.vmdl"
printf '0\n1\nx\n' >"$TMP/bad.lab"
expect_out "bad label line named" "bad.lab:3" "$VIGIL" train -m rf --train "$TMP/train.csv" --labels "$TMP/bad.lab" -o "$TMP/x.vmdl"
expect_out "eval: label/score rows differ" "599 labels, but .* has 300 rows" \
    "$VIGIL" eval --labels "$TMP/short.lab" --scores "$TMP/s.csv"
cut -d, -f1-3 "$TMP/test.csv" >"$TMP/missing.csv"
expect_exit 1 "schema mismatch" "$VIGIL" score "$TMP/m.vmdl" "$TMP/missing.csv"
expect_out "schema mismatch names the missing series" "missing series 'net\{vm=\"b\"\}'" \
    "$VIGIL" score "$TMP/m.vmdl" "$TMP/missing.csv"
size=$(wc -c <"$TMP/m.vmdl")
bad=0 crash=0 tried=0
for len in 0 1 7 8 12 16 $(seq 20 37 "$size") $((size - 4)) $((size - 1)); do
    head -c "$len" "$TMP/m.vmdl" >"$TMP/trunc.vmdl"
    "$VIGIL" score "$TMP/trunc.vmdl" "$TMP/test.csv" >"$TMP/out" 2>&1
    rc=$?
    tried=$((tried + 1))
    [ $rc -eq 1 ] || bad=$((bad + 1))
    grep -qE 'AddressSanitizer|runtime error' "$TMP/out" && crash=$((crash + 1))
done
if [ $bad -eq 0 ] && [ $crash -eq 0 ]; then ok "$tried truncated model files: exit 1, no crash"; else
    not_ok "truncated model files" "$bad wrong exits, $crash crashes"; fi
expect_out "truncated file: says so" "trunc.vmdl: .*(truncated|checksum)" "$VIGIL" score "$TMP/trunc.vmdl" "$TMP/test.csv"
cp "$TMP/m.vmdl" "$TMP/flip.vmdl"
printf '\x55' | dd of="$TMP/flip.vmdl" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
expect_out "corrupt model file: checksum" "flip.vmdl: checksum mismatch" "$VIGIL" score "$TMP/flip.vmdl" "$TMP/test.csv"
expect_out "not a model file" "bad magic" "$VIGIL" score "$TMP/test.csv" "$TMP/test.csv"
expect_out "missing model file" "nope.vmdl: .*No such file" "$VIGIL" score "$TMP/nope.vmdl" "$TMP/test.csv"
expect_out "missing data file" "nope.csv" "$VIGIL" score "$TMP/m.vmdl" "$TMP/nope.csv"
expect_exit 1 "missing labels file" "$VIGIL" train -m rf --train "$TMP/train.csv" --labels "$TMP/nope.lab" -o "$TMP/x.vmdl"
expect_exit 1 "missing scores file" "$VIGIL" eval --labels "$TMP/test.lab" --scores "$TMP/nope.csv"
expect_exit 2 "train without -m" "$VIGIL" train --train "$TMP/train.csv" -o "$TMP/x.vmdl"
expect_exit 2 "unknown model" "$VIGIL" train -m nosuch --train "$TMP/train.csv" -o "$TMP/x.vmdl"
expect_exit 2 "supervised model without labels" "$VIGIL" train -m rf --train "$TMP/train.csv" -o "$TMP/x.vmdl"
expect_out "option out of range" "trees: expected an? integer in \[1, 100000\]" \
    "$VIGIL" train -m rf --trees 0 --train "$TMP/train.csv" --labels "$TMP/train.lab" -o "$TMP/x.vmdl"
expect_exit 2 "bad max-features" "$VIGIL" train -m rf --max-features bogus --train "$TMP/train.csv" --labels "$TMP/train.lab" -o "$TMP/x.vmdl"
expect_exit 2 "unknown flag" "$VIGIL" train -m rf --nope 1 --train "$TMP/train.csv" --labels "$TMP/train.lab" -o "$TMP/x.vmdl"
expect_exit 2 "score without data" "$VIGIL" score "$TMP/m.vmdl"
expect_exit 2 "eval without scores" "$VIGIL" eval --labels "$TMP/test.lab"
expect_exit 1 "unwritable output" "$VIGIL" train -m rf --train "$TMP/train.csv" --labels "$TMP/train.lab" -o "$TMP/no/dir/m.vmdl"

# Real data: ITU 02_b (skipped when absent). About 1 s.
ITU=itu-5gc-nfv-failure/ap_data
if have_data "$ITU/02_b_train_data.txt"; then
    D="$VIGIL_DATA/$ITU"
    expect_exit 0 "ITU 02_b: train" "$VIGIL" train -q -m rf --train "$D/02_b_train_data.txt" \
        --labels "$D/02_b_train_label.txt" -o "$TMP/itu.vmdl"
    expect_exit 0 "ITU 02_b: score" "$VIGIL" score -q "$TMP/itu.vmdl" "$D/02_b_test_data.txt" -o "$TMP/itu.csv"
    "$VIGIL" eval --labels "$D/02_b_test_label.txt" --scores "$TMP/itu.csv" --json >"$TMP/itu.json"
    if /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["binary"]; assert d["roc_auc"] > 0.8 and d["pr_auc_ap"] > 0.55, d' "$TMP/itu.json"; then
        ok "ITU 02_b: ROC AUC > 0.8, PR AUC > 0.55"; else not_ok "ITU 02_b figures" "$(head -c 300 "$TMP/itu.json")"; fi
else
    skip_test "ITU 02_b data absent"
fi
finish
