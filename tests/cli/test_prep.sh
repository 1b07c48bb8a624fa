#!/usr/bin/env bash
# vigil prep: the chain's output on a hand-made CSV whose expected values are
# worked out in the comments, on the bundled sample, options from flags and
# from a config file (flags win), dropped-series reports, and errors.
. "$(dirname "$0")/lib.sh"

SAMPLE=tests/data/sample/host.prom

# row N FILE : line N+1 of a CSV (data row N, 1-based)
row() { sed -n "$(($1 + 1))p" "$2"; }

# check_row DESC N FILE WANT
check_row() {
    local got
    got=$(row "$2" "$3")
    if [ "$got" = "$4" ]; then ok "$1"; else not_ok "$1" "got  '$got'" "want '$4'"; fi
}

# A counter with a reset, a gauge with a hole, a constant and labels.
#   req_total: 10, 15, 15, 3, 8 -> increases NaN, 5, 0, 3 (reset), 5
#   temp:       1,  2,  -, 4, 5 -> kept, the hole is NaN with --fill-max 0
#   up:         1 everywhere    -> dropped as constant
cat >"$TMP/in.csv" <<'EOF'
timestamp,req_total,temp,up,label
1700000000,10,1,1,0
1700000001,15,2,1,1
1700000002,15,,1,0
1700000003,3,4,1,0
1700000004,8,5,1,2
EOF

expect_exit 0 "prep a small CSV" "$VIGIL" prep --scale false --fill-max 0 "$TMP/in.csv" -o "$TMP/out.csv"
check_row "header: time, kept series, label" 0 "$TMP/out.csv" "timestamp,req_total,temp,label"
check_row "row 1: no increase yet" 1 "$TMP/out.csv" "2023-11-14T22:13:20Z,NaN,1,0"
check_row "row 2: 15 - 10" 2 "$TMP/out.csv" "2023-11-14T22:13:21Z,5,2,1"
check_row "row 3: flat counter, missing gauge" 3 "$TMP/out.csv" "2023-11-14T22:13:22Z,0,NaN,0"
check_row "row 4: a decrease is a reset" 4 "$TMP/out.csv" "2023-11-14T22:13:23Z,3,4,0"
expect_out "the constant series is reported" "dropped up \(constant\)" \
    "$VIGIL" prep --scale false "$TMP/in.csv" -o "$TMP/out.csv"

# --step 2s: buckets [0,2) rows 1-2, [2,4) rows 3-4, [4,6) row 5 (seconds after ...00)
#   req_total sums: NaN+5 = 5, 0+3 = 3, 5      temp means: 1.5, 4, 5
#   labels (largest in the bucket): 1, 0, 2
expect_exit 0 "prep with --step" "$VIGIL" prep --step 2s --scale false "$TMP/in.csv" -o "$TMP/out2.csv"
check_row "bucket 1" 1 "$TMP/out2.csv" "2023-11-14T22:13:20Z,5,1.5,1"
check_row "bucket 2" 2 "$TMP/out2.csv" "2023-11-14T22:13:22Z,3,4,0"
check_row "bucket 3" 3 "$TMP/out2.csv" "2023-11-14T22:13:24Z,5,5,2"
# Scaled: req_total in [3, 5] -> 1, 0, 1; temp in [1.5, 5] -> 0, 2.5/3.5, 1.
"$VIGIL" prep --step 2s "$TMP/in.csv" -o "$TMP/out3.csv" 2>/dev/null
check_row "scaled bucket 2" 2 "$TMP/out3.csv" "2023-11-14T22:13:22Z,0,0.71428573,0"

# Temporal features: k = 2 on the unscaled buckets above.
#   req_total 5, 3, 5: lag1 NaN,5,3  delta NaN,-2,2  mean2 5,4,4  std2 0,1,1
"$VIGIL" prep --step 2s --scale false --temporal 2 "$TMP/in.csv" -o "$TMP/out4.csv" 2>/dev/null
check_row "temporal header" 0 "$TMP/out4.csv" \
    "timestamp,req_total,req_total:lag1,req_total:delta,req_total:mean2,req_total:std2,temp,temp:lag1,temp:delta,temp:mean2,temp:std2,label"
check_row "temporal row 2" 2 "$TMP/out4.csv" "2023-11-14T22:13:22Z,3,5,-2,4,1,4,1.5,2.5,2.75,1.25,0"

# ---- options from a config file; flags win ----
cat >"$TMP/cfg.yaml" <<'EOF'
prep:
  step: 2s
  scale: false
EOF
"$VIGIL" prep -c "$TMP/cfg.yaml" "$TMP/in.csv" -o "$TMP/out5.csv" 2>/dev/null
check_row "config step applies" 1 "$TMP/out5.csv" "2023-11-14T22:13:20Z,5,1.5,1"
"$VIGIL" prep -c "$TMP/cfg.yaml" --step 0 --fill-max 0 "$TMP/in.csv" -o "$TMP/out6.csv" 2>/dev/null
check_row "a flag overrides the config" 2 "$TMP/out6.csv" "2023-11-14T22:13:21Z,5,2,1"
printf 'prep:\n  step: 2s\n  stepp: 3s\n' >"$TMP/bad.yaml"
expect_exit 1 "an unknown config key fails" "$VIGIL" prep -c "$TMP/bad.yaml" "$TMP/in.csv" -o "$TMP/o.csv"
expect_out "and names its line" "bad.yaml:3: unknown option 'stepp' in section 'prep'" \
    "$VIGIL" prep -c "$TMP/bad.yaml" "$TMP/in.csv" -o "$TMP/o.csv"

# ---- the bundled sample ----
expect_exit 0 "prep the bundled sample" "$VIGIL" prep --step 30s "$SAMPLE" -o "$TMP/sample.csv"
expect_out "its constant series is reported" "dropped node_boot_time_seconds \(constant\)" \
    "$VIGIL" prep --step 30s "$SAMPLE" -o "$TMP/sample.csv"
# Scrapes from 22:13:20 to 22:23:05 fall in 30 s buckets 22:13:00 .. 22:23:00: 21 rows.
rows=$(($(wc -l <"$TMP/sample.csv") - 1))
if [ "$rows" -eq 21 ]; then ok "sample: 21 buckets"; else not_ok "sample: 21 buckets" "got $rows"; fi
cols=$(/usr/bin/python3 -c 'import csv, sys; print(len(next(csv.reader(open(sys.argv[1])))))' \
    "$TMP/sample.csv")
series=$(grep -v '^#' "$SAMPLE" | awk '{print $1}' | sort -u | wc -l)
if [ "$cols" -eq "$series" ]; then ok "sample: time + all series but the constant one"; else
    not_ok "sample: columns" "got $cols, want $series"; fi
bad=$(tail -n +2 "$TMP/sample.csv" | tr ',' '\n' | grep -v 'Z$' |
    awk '$1 != "NaN" && ($1 < 0 || $1 > 1) {n++} END {print n + 0}')
if [ "$bad" -eq 0 ]; then ok "sample: every value is in [0,1] or NaN"; else
    not_ok "sample: values out of [0,1]" "$bad"; fi
expect_exit 0 "prep to stdout" "$VIGIL" prep "$SAMPLE" -o -

# ---- errors ----
expect_exit 2 "no -o is a usage error" "$VIGIL" prep "$TMP/in.csv"
expect_exit 2 "two files is a usage error" "$VIGIL" prep "$TMP/in.csv" "$TMP/in.csv" -o "$TMP/o.csv"
expect_exit 2 "no file is a usage error" "$VIGIL" prep -o "$TMP/o.csv"
expect_exit 2 "a bad --fill-max is a usage error" "$VIGIL" prep --fill-max x "$TMP/in.csv" -o "$TMP/o.csv"
expect_out "and says what was expected" "fill-max: expected" \
    "$VIGIL" prep --fill-max x "$TMP/in.csv" -o "$TMP/o.csv"
expect_exit 1 "a missing input fails" "$VIGIL" prep "$TMP/nope.csv" -o "$TMP/o.csv"
printf 'a,b\n1,1\n1,1\n' >"$TMP/flat.csv"
expect_exit 1 "only constant series fails" "$VIGIL" prep "$TMP/flat.csv" -o "$TMP/o.csv"
expect_out "and says why" "flat.csv: all 2 series are constant or empty" \
    "$VIGIL" prep "$TMP/flat.csv" -o "$TMP/o.csv"
printf '# TYPE x gauge\nx{a="0"} 1\nx{a="1" 5\n' >"$TMP/bad.prom"
expect_out "malformed input names its line" "bad.prom:3:" "$VIGIL" prep "$TMP/bad.prom" -o "$TMP/o.csv"
expect_exit 1 "an unwritable output fails" "$VIGIL" prep "$TMP/in.csv" -o "$TMP/no/such/dir/o.csv"
head -c 4096 "$VIGIL" >"$TMP/binary.dat"
expect_no_crash "no crash on binary input" "$VIGIL" prep "$TMP/binary.dat" -o "$TMP/o.csv"
expect_out "help prep lists the chain's options" "--fill-max" "$VIGIL" help prep

finish
