#!/usr/bin/env bash
# The readers seen through `vigil inspect`: what test_inspect.sh does not
# cover. Malformed exposition and delimited text named at file:line:col with
# what was expected; OpenMetrics (seconds, # EOF, truncation); a directory of
# scrape files (name order, mtimes); stdin and gzip; the SYRROCA-layout
# fixture; and `vigil prep` output read back. Expected numbers come from the
# input files through wc/grep/date, never from vigil.
. "$(dirname "$0")/lib.sh"

SAMPLE=tests/data/sample/host.prom
SYR=tests/data/syrroca/cadvisor_day.csv

# field NAME : the value of the summary line NAME in $TMP/out
field() { sed -n "s/^  $1 *//p" "$TMP/out" | head -n 1; }
# check_value DESC GOT WANT
check_value() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got '$2'" "want '$3'"; fi; }
# check_field DESC NAME WANT : the summary line NAME equals WANT
check_field() { check_value "$1" "$(field "$2")" "$3"; }

# ---- malformed exposition: file:line:col and what was expected ----
# bad_expo NAME TEXT LINE:COL REASON
bad_expo() {
    printf '%b' "$2" >"$TMP/$1"
    expect_exit 1 "$1 exits 1" "$VIGIL" inspect "$TMP/$1"
    expect_out "$1 is named at $3" "$1:$3: $4" "$VIGIL" inspect "$TMP/$1"
}
bad_expo lone.prom 'x{a="1" 5\n' 1:9 "expected ',' or '\}' after the label value, found '5'"
bad_expo escape.prom '# TYPE x gauge\nx{a="\\\\q"} 1\nx{a="\\q"} 1\n' 3:6 "invalid escape in label value"
bad_expo type.prom '# HELP x h\n# TYPE x countr\nx 1\n' 2:10 "expected a metric type .*found 'countr'"
bad_expo ts.prom 'x 1 1000\nx 2 soon\n' 2:5 "expected a timestamp in integer milliseconds"
bad_expo value.prom '# TYPE x gauge\nx{a="1"} one\n' 2:10 "expected a number \(or NaN, \+Inf, -Inf\), found 'one'"
bad_expo dup.prom 'x{a="1",a="2"} 1\n' 1:9 "duplicate label 'a'"
bad_expo twice.prom 'x 1 1000\nx 2 1000\n' 2:1 "second value for series x"

# ---- OpenMetrics ----
printf '# TYPE r counter\n# UNIT r requests\nr_total 1 100.5\nr_created 90\n# EOF\n# TYPE r counter\nr_total 4 115.5\nr_created 90\n# EOF\n' >"$TMP/om.txt"
expect_exit 0 "OpenMetrics scrapes read" "$VIGIL" inspect "$TMP/om.txt"
"$VIGIL" inspect "$TMP/om.txt" >"$TMP/out" 2>&1
check_field "OpenMetrics is detected" format "openmetrics, 1 families"
check_field "two scrapes, two rows" rows 2
check_field "timestamps are seconds" time "1970-01-01T00:01:40.500Z .. 1970-01-01T00:01:55.500Z (span 15s)"
check_field "_total is a counter, _created a gauge" series "2: counter 1, gauge 1, unknown 0"
head -n 4 "$TMP/om.txt" >"$TMP/om_trunc.txt"
expect_exit 1 "OpenMetrics without # EOF exits 1" "$VIGIL" inspect "$TMP/om_trunc.txt"
expect_out "and says # EOF is missing" "om_trunc.txt:4: expected '# EOF'" "$VIGIL" inspect "$TMP/om_trunc.txt"

# ---- a directory of scrape files ----
mkdir -p "$TMP/scrapes"
for i in 1 2 3; do
    printf '# TYPE up gauge\nup %d\n# TYPE req_total counter\nreq_total %d\n' $((i % 2)) $((i * 10)) \
        >"$TMP/scrapes/s-00$i.prom"
    touch -d "@$((1700000000 + 30 * i))" "$TMP/scrapes/s-00$i.prom"
done
gzip "$TMP/scrapes/s-003.prom" # gzip is read transparently inside a directory too
touch -d "@1700000090" "$TMP/scrapes/s-003.prom.gz"
expect_exit 0 "a directory of scrapes reads" "$VIGIL" inspect "$TMP/scrapes"
"$VIGIL" inspect "$TMP/scrapes" >"$TMP/out" 2>&1
check_field "one row per file" rows 3
check_field "files counted" files 3
check_field "file mtimes are the times" time \
    "$(date -u -d @1700000030 +%Y-%m-%dT%H:%M:%SZ) .. $(date -u -d @1700000090 +%Y-%m-%dT%H:%M:%SZ) (span 1m)"
printf 'up 1\nup{a="x" 2\n' >"$TMP/scrapes/s-004.prom"
expect_exit 1 "a bad scrape file fails the directory" "$VIGIL" inspect "$TMP/scrapes"
expect_out "and is named with line and column" "scrapes:2:10: s-004.prom: expected" "$VIGIL" inspect "$TMP/scrapes"

# ---- stdin and gzip read the same as the file ----
"$VIGIL" inspect "$SAMPLE" >"$TMP/out" 2>&1
rows=$(field rows)
series=$(field series)
"$VIGIL" inspect - <"$SAMPLE" >"$TMP/out" 2>&1
check_field "stdin: same rows" rows "$rows"
check_field "stdin: same series" series "$series"
gzip -c "$SAMPLE" >"$TMP/sample.prom.gz"
"$VIGIL" inspect "$TMP/sample.prom.gz" >"$TMP/out" 2>&1
check_field "gzip: same rows" rows "$rows"
gzip -c "$SYR" | "$VIGIL" inspect - >"$TMP/out" 2>&1
check_field "gzip on stdin: delimited" format "delimited, delimiter ';', header yes, time column 2"

# ---- the SYRROCA layout (tools/gen_syrroca_fixture.py) ----
"$VIGIL" inspect "$SYR" >"$TMP/out" 2>&1
cols=$(head -n 1 "$SYR" | awk -F';' '{print NF - 2}') # minus the unnamed index and the time
check_field "syrroca: ';', header, time column 2" format "delimited, delimiter ';', header yes, time column 2"
check_field "syrroca: rows" rows "$(($(wc -l <"$SYR") - 1))"
t0=$(sed -n 2p "$SYR" | cut -d';' -f2)
t1=$(tail -n 1 "$SYR" | cut -d';' -f2)
check_field "syrroca: epoch ms times" time \
    "$(date -u -d "@$((t0 / 1000))" +%Y-%m-%dT%H:%M:%S).$((t0 % 1000))Z .. $(date -u -d "@$((t1 / 1000))" +%Y-%m-%dT%H:%M:%S).$((t1 % 1000))Z (span 25s)"
check_field "syrroca: one empty cell" "NaN share" "1.67 % (1 of $((cols * 6)) values)"
check_field "syrroca: pods are entities" entities \
    "3: pcscf-deployment-5d9f7b6c8-abcde (4), hss-deployment-7c8d9e0f1-fghij (4), host (2)"

# ---- malformed delimited text ----
bad_csv() {
    printf '%b' "$2" >"$TMP/$1"
    expect_exit 1 "$1 exits 1" "$VIGIL" inspect "$TMP/$1"
    expect_out "$1 is named at $3" "$1:$3: $4" "$VIGIL" inspect "$TMP/$1"
}
bad_csv num.csv 'timestamp,a,b\n2020-01-01 00:00:00,1,2\n2020-01-01 00:00:10,1,x2\n' 3:23 \
    "expected a number in column 'b', found 'x2'"
bad_csv quote.csv 'a;b\n1;"2\n' 2:5 "expected '\"' to close the quoted field opened at column 3"
bad_csv fields.tsv 'a\tb\tc\n1\t2\t3\n4\t5\n' 3:4 "expected 3 fields \(as in the header\), found 2"
bad_csv time.csv 'time,v\n1700000000,1\nlater,2\n' 3:1 "expected a time \(an epoch number like the first row\)"

# ---- vigil prep output reads back ----
if "$VIGIL" prep "$SAMPLE" -o "$TMP/prep.csv" 2>/dev/null; then
    expect_exit 0 "prep output reads back" "$VIGIL" inspect "$TMP/prep.csv"
    "$VIGIL" inspect "$TMP/prep.csv" >"$TMP/out" 2>&1
    check_field "prep output: header and ISO times" format "delimited, delimiter ',', header yes, time column 1"
    check_field "prep output: every row" rows "$(($(wc -l <"$TMP/prep.csv") - 1))"
    ncols=$(head -n 1 "$TMP/prep.csv" |
        /usr/bin/python3 -c 'import csv, sys; print(len(next(csv.reader(sys.stdin))) - 1)')
    check_value "prep output: every column (counted by python csv)" "$(field series | cut -d: -f1)" "$ncols"
else
    not_ok "vigil prep on the sample failed"
fi

finish
