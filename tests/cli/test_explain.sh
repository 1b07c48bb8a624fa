#!/usr/bin/env bash
# vigil explain and vigil radiography on a small synthetic host: cpu, memory
# and network gauges (grouped by name), trained with pca and a tiny lstm-ae;
# the test copy has a memory fault at rows 400-419 and a service metric that
# fails during it. Checks the segments, the feature sets, JSON, the error CSV,
# the PNG, time ranges, and the errors (bad flags, wrong model kind, missing
# service column, corrupt model file). Also vigil score's header contract.
. "$(dirname "$0")/lib.sh"

# gen FAULT: 600 rows, one per second. Periodic signals; memory_used and
# memory_cache move together. With FAULT=1, memory_used jumps at 400-419.
gen() {
    awk -v fault="$1" 'BEGIN {
        srand(7); print "timestamp,cpu_busy,cpu_wait,memory_used,memory_cache,network_rx,network_tx";
        for (t = 0; t < 600; t++) {
            a = sin(t / 9.0); b = cos(t / 13.0); n = rand() * 0.05;
            mu = 50 + 10 * b + n; mc = 20 + 4 * b + n;
            if (fault && t >= 400 && t < 420) mu += 40;
            printf "%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f\n", 1700000000 + t, 30 + 20 * a + n,
                5 + 2 * a + n, mu, mc, 100 + 30 * a * b + n, 80 + 25 * a * b + n
        }
    }'
}
gen 0 >"$TMP/train.csv"
gen 1 >"$TMP/test.csv"
awk 'BEGIN { print "timestamp,failed_calls";
    for (t = 0; t < 600; t++) printf "%d,%d\n", 1700000000 + t, (t >= 400 && t < 420) ? 30 + t % 7 : t % 3 }' \
    >"$TMP/svc.csv"

expect_exit 0 "train pca on the host" "$VIGIL" train -q -m pca --train "$TMP/train.csv" -o "$TMP/pca.vmdl"
expect_exit 0 "train a tiny lstm-ae" "$VIGIL" train -q -m lstm-ae --window 5 --hidden 4 --latent 2 \
    --epochs 2 --train "$TMP/train.csv" -o "$TMP/ae.vmdl"

# The score header contract: score,threshold,anomaly, then score_<g>,threshold_<g>.
"$VIGIL" score -q "$TMP/pca.vmdl" "$TMP/test.csv" -o "$TMP/scores.csv"
head -n1 "$TMP/scores.csv" >"$TMP/head"
want="score,threshold,anomaly,score_cpu,threshold_cpu,score_memory,threshold_memory,score_network,threshold_network"
if [ "$(cat "$TMP/head")" = "$want" ]; then ok "score header"; else not_ok "score header" "$(cat "$TMP/head")"; fi
if awk -F, 'NR > 401 && NR <= 421 && $3 != 1 { bad = 1 } END { exit bad }' "$TMP/scores.csv"; then
    ok "every fault row is flagged anomalous"; else not_ok "every fault row is flagged anomalous"; fi

"$VIGIL" explain "$TMP/pca.vmdl" "$TMP/test.csv" >"$TMP/ex.txt" 2>&1
rc=$?
if [ $rc -eq 0 ]; then ok "explain runs"; else not_ok "explain runs" "$(head -c 600 "$TMP/ex.txt")"; fi
# One memory segment covers the fault (a borderline normal row next to it may
# join: 1% of normal rows pass a 0.99 quantile). With one PCA component for
# two correlated features the residual is split between them, so the set is
# {memory_used, memory_cache}; the error shares name both memory features.
SEG='group memory, rows (39[0-9]|400)-(419|42[0-9]) \(2[0-9] points\)'
if grep -qE "^segment [0-9]+: $SEG" "$TMP/ex.txt"; then
    ok "the memory fault is one segment at rows 400-419"
else not_ok "the memory fault is one segment at rows 400-419" "$(grep 'group memory' "$TMP/ex.txt")"; fi
if grep -E -A1 "$SEG" "$TMP/ex.txt" | grep -qE '100.0% of points are characterized by (memory_used, memory_cache|memory_cache, memory_used)$' &&
   grep -E -A2 "$SEG" "$TMP/ex.txt" | grep -qE 'error share: memory_(used|cache) [0-9.]+%, memory_(used|cache)'; then
    ok "the memory features explain every point of the fault"
else not_ok "the memory features explain every point of the fault" "$(grep -E -A3 "$SEG" "$TMP/ex.txt")"; fi
if grep -E "$SEG" "$TMP/ex.txt" | grep -qE '2023-11-14T22:19:5[0-9]Z - 2023-11-14T22:20:(19|2[0-9])Z'; then
    ok "segments carry their times"; else not_ok "segments carry their times" "$(grep -E "$SEG" "$TMP/ex.txt")"; fi

expect_out "a time range excludes the fault" ", 0 anomalous segments|rows 0-99," \
    "$VIGIL" explain "$TMP/pca.vmdl" "$TMP/test.csv" --from 1700000000 --to 1700000100
expect_out "ISO 8601 --from (row 400 is 22:20:00)" "rows 400-599, .*|group memory, rows 400-4(19|2[0-9])" \
    "$VIGIL" explain "$TMP/pca.vmdl" "$TMP/test.csv" --from 2023-11-14T22:20:00Z

"$VIGIL" explain --json "$TMP/pca.vmdl" "$TMP/test.csv" >"$TMP/ex.json"
if /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
s = [x for x in d["segments"] if d["groups"][x["group_index"]]["group"] == "memory"
     and x["start_row"] <= 400 and x["end_row"] >= 419]
assert len(s) == 1 and s[0]["sets"][0]["share"] == 1
assert sorted(s[0]["sets"][0]["features"]) == ["memory_cache", "memory_used"]
assert s[0]["error_share"][0]["feature"].startswith("memory_") and s[0]["peak"] > 10
' "$TMP/ex.json" 2>"$TMP/err"; then ok "JSON report"; else not_ok "JSON report" "$(cat "$TMP/err")"; fi

expect_exit 0 "--errors CSV" "$VIGIL" explain -q "$TMP/ae.vmdl" "$TMP/test.csv" --errors "$TMP/se.csv"
if [ "$(head -n1 "$TMP/se.csv")" = "row,cpu_busy,cpu_wait,memory_used,memory_cache,network_rx,network_tx" ] &&
   [ "$(wc -l <"$TMP/se.csv")" -eq 601 ] && sed -n 3p "$TMP/se.csv" | grep -qE '^1,,,,,,$' &&
   sed -n 6p "$TMP/se.csv" | grep -qE '^4,[0-9]'; then
    ok "error CSV: header, one line per row, unscored rows empty until the first window"
else not_ok "error CSV" "$(head -n 7 "$TMP/se.csv")"; fi

expect_exit 0 "radiography" "$VIGIL" radiography -q "$TMP/pca.vmdl" "$TMP/test.csv" \
    --service "$TMP/svc.csv:failed_calls" -o "$TMP/radio.png" --grid 50
if [ "$(head -c 8 "$TMP/radio.png" | od -An -c | tr -d ' ')" = '211PNG\r\n032\n' ]; then
    ok "radiography writes a PNG"; else not_ok "radiography writes a PNG"; fi
expect_out "radiography counts the fault's points in the memory panel" "memory +2[0-9] anomalous points" \
    "$VIGIL" radiography "$TMP/pca.vmdl" "$TMP/test.csv" --service "$TMP/svc.csv:1" -o "$TMP/r2.png" --grid 40

# Errors.
expect_exit 2 "explain without DATA" "$VIGIL" explain "$TMP/pca.vmdl"
expect_exit 2 "explain --from garbage" "$VIGIL" explain "$TMP/pca.vmdl" "$TMP/test.csv" --from yesterday
expect_exit 2 "explain --cover 2" "$VIGIL" explain "$TMP/pca.vmdl" "$TMP/test.csv" --cover 2
expect_exit 2 "radiography without --service" "$VIGIL" radiography "$TMP/pca.vmdl" "$TMP/test.csv" -o "$TMP/x.png"
expect_exit 2 "radiography --service without a column" "$VIGIL" radiography "$TMP/pca.vmdl" "$TMP/test.csv" \
    --service "$TMP/svc.csv" -o "$TMP/x.png"
expect_out "radiography names a missing column" "no column 'nope'" \
    "$VIGIL" radiography "$TMP/pca.vmdl" "$TMP/test.csv" --service "$TMP/svc.csv:nope" -o "$TMP/x.png"
expect_exit 1 "radiography: unwritable output" "$VIGIL" radiography "$TMP/pca.vmdl" "$TMP/test.csv" \
    --service "$TMP/svc.csv:1" -o /nonexistent/dir/x.png
awk -F, 'NR == 1 { print $0 ",label"; next } { print $0 "," (NR % 5 == 0) }' "$TMP/train.csv" >"$TMP/lab.csv"
cut -d, -f8 "$TMP/lab.csv" | tail -n +2 >"$TMP/labels.txt"
if "$VIGIL" train -q -m rf --train "$TMP/train.csv" --labels "$TMP/labels.txt" -o "$TMP/rf.vmdl" 2>/dev/null; then
    expect_out "explain refuses a classifier" "has no reconstruction errors" \
        "$VIGIL" explain "$TMP/rf.vmdl" "$TMP/test.csv"
else skip_test "no rf model to refuse"; fi
head -c 300 "$TMP/pca.vmdl" >"$TMP/cut.vmdl"
expect_exit 1 "explain: truncated model file" "$VIGIL" explain "$TMP/cut.vmdl" "$TMP/test.csv"
expect_no_crash "explain: binary data file" "$VIGIL" explain "$TMP/pca.vmdl" "$TMP/pca.vmdl"
expect_exit 1 "explain: missing data file" "$VIGIL" explain "$TMP/pca.vmdl" "$TMP/nope.csv"
finish
