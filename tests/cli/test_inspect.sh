#!/usr/bin/env bash
# vigil inspect: summaries of the bundled sample, the Prometheus fixtures and
# an SMD, a NAB and an ITU file (skipped when ../shared/data is absent), with
# expected values computed here from the raw files by other tools (zcat, awk,
# date, Debian's prometheus_client), then bad input of every kind: a clear
# message naming the file (and line), exit 1, never a crash; usage errors exit 2.
. "$(dirname "$0")/lib.sh"

SAMPLE=tests/data/sample/host.prom
PY=/usr/bin/python3

# field NAME : the value part of a summary line ("  NAME   value") from $TMP/out
field() { sed -n "s/^  $1 *//p" "$TMP/out" | head -n 1; }

# check_field DESC NAME WANT : the summary line NAME equals WANT
check_field() {
    local got
    got=$(field "$2")
    if [ "$got" = "$3" ]; then ok "$1"; else not_ok "$1" "$2: got '$got'" "want '$3'"; fi
}

# ---- the bundled sample (tools/gen_sample.py: 40 scrapes 15 s apart, 3 lost) ----
expect_exit 0 "inspect the bundled sample" "$VIGIL" inspect "$SAMPLE"
"$VIGIL" inspect "$SAMPLE" >"$TMP/out" 2>&1
families=$(grep '^# TYPE ' "$SAMPLE" | awk '{print $3}' | sort -u | wc -l)
scrapes=$(grep -v '^#' "$SAMPLE" | awk '{print $NF}' | sort -u | wc -l)
series=$(grep -v '^#' "$SAMPLE" | awk '{print $1}' | sort -u | wc -l)
counters=$(grep -v '^#' "$SAMPLE" | awk '{print $1}' | sort -u | grep -c '_total')
check_field "sample: format and families" format "prometheus, $families families"
check_field "sample: one row per scrape" rows "$scrapes"
check_field "sample: series by kind" series "$series: counter $counters, gauge $((series - counters)), unknown 0"
# cpu: 3 node_cpu + node_load1 + 2 container_cpu; memory: MemAvailable + 2 working sets;
# network: node rx, tx + container rx; filesystem: disk io + fs avail; other: boot time.
check_field "sample: series by group" groups "cpu 6, memory 3, network 3, filesystem 2, other 1"
check_field "sample: entities from the name label" entities "3: host (10), web (3), db (2)"
first=$(grep -v '^#' "$SAMPLE" | awk '{print $NF}' | sort -n | head -n 1)
last=$(grep -v '^#' "$SAMPLE" | awk '{print $NF}' | sort -n | tail -n 1)
t0=$(date -u -d "@$((first / 1000))" +%Y-%m-%dT%H:%M:%SZ)
t1=$(date -u -d "@$((last / 1000))" +%Y-%m-%dT%H:%M:%SZ)
check_field "sample: time span" time "$t0 .. $t1 (span 9m45s)"
check_field "sample: step" step "15s (median spacing)"
check_field "sample: the lost scrapes are one gap of 3 steps" gaps \
    "1 (spacing > 1.5 steps), about 3 missing steps, longest 1m"
check_field "sample: no missing values" "NaN share" "0.00 % (0 of $((scrapes * series)) values)"

# ---- Prometheus fixtures, counted by prometheus_client ----
NODE=prometheus-fixtures/node_exporter/collector/fixtures/e2e-output.txt
CADV=prometheus-fixtures/cadvisor/lib/metrics/testdata/prometheus_metrics
# Prints "samples counters gauges unknown entities" the way vigil defines them.
count_py='
import re, sys
from prometheus_client.parser import text_string_to_metric_families
k = {"counter": 0, "gauge": 0, "unknown": 0}; n = 0; ents = set()
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        n += 1
        if fam.type in ("counter", "gauge"):
            k[fam.type] += 1
        elif fam.type in ("histogram", "summary"):
            k["counter" if re.search("_(count|sum|bucket)$", s.name) else "gauge"] += 1
        else:
            k["counter" if re.search("_(total|count|sum|bucket)$", s.name) else "unknown"] += 1
        ents.add(next((s.labels[l] for l in ("pod", "container", "name", "domain", "instance")
                       if s.labels.get(l)), None))
print(n, k["counter"], k["gauge"], k["unknown"], len(ents))
'
have_pc() { $PY -c 'import prometheus_client' 2>/dev/null; }
for f in "$NODE" "$CADV"; do
    short=$(basename "$f")
    if ! have_data "$f"; then
        skip_test "$short absent (set VIGIL_DATA)"
        continue
    fi
    expect_exit 0 "inspect $short" "$VIGIL" inspect "$VIGIL_DATA/$f"
    "$VIGIL" inspect "$VIGIL_DATA/$f" >"$TMP/out" 2>&1
    fams=$(grep '^# TYPE ' "$VIGIL_DATA/$f" | awk '{print $3}' | sort -u | wc -l)
    check_field "$short: families" format "prometheus, $fams families"
    check_field "$short: one scrape is one row" rows 1
    if have_pc; then
        read -r n c g u e < <($PY -c "$count_py" "$VIGIL_DATA/$f")
        check_field "$short: series by kind (prometheus_client)" series "$n: counter $c, gauge $g, unknown $u"
        got=$(field entities | cut -d: -f1)
        if [ "$got" = "$e" ]; then ok "$short: $e entities"; else
            not_ok "$short: entities" "got $got, want $e"; fi
    else
        skip_test "$short: python3-prometheus-client absent"
    fi
done
if have_data "$CADV"; then
    "$VIGIL" inspect "$VIGIL_DATA/$CADV" >"$TMP/out" 2>&1
    # Every cAdvisor sample carries the timestamp 1395066363000 ms.
    check_field "cadvisor: sample timestamps" time \
        "$(date -u -d @1395066363 +%Y-%m-%dT%H:%M:%SZ) .. $(date -u -d @1395066363 +%Y-%m-%dT%H:%M:%SZ) (span 0s)"
    check_field "cadvisor: container names are entities" entities "2: host (2), testcontaineralias (285)"
fi

# ---- SMD, NAB, ITU ----
SMD=smd/test/machine-1-6.txt.gz
if have_data "$SMD"; then
    "$VIGIL" inspect "$VIGIL_DATA/$SMD" >"$TMP/out" 2>&1
    rows=$(zcat "$VIGIL_DATA/$SMD" | wc -l)
    cols=$(zcat "$VIGIL_DATA/$SMD" | head -n 1 | awk -F, '{print NF}')
    check_field "smd: comma, no header, no time" format "delimited, delimiter ',', header no, time column none"
    check_field "smd: rows" rows "$rows"
    check_field "smd: unnamed columns are untyped and other" series "$cols: counter 0, gauge 0, unknown $cols"
    check_field "smd: groups" groups "cpu 0, memory 0, network 0, filesystem 0, other $cols"
    check_field "smd: no time column" time "none (rows numbered, 1 s apart)"
    check_field "smd: NaN share" "NaN share" "0.00 % (0 of $((rows * cols)) values)"
else
    skip_test "SMD absent (set VIGIL_DATA)"
fi

NAB=nab/data/realKnownCause/machine_temperature_system_failure.csv
if have_data "$NAB"; then
    "$VIGIL" inspect "$VIGIL_DATA/$NAB" >"$TMP/out" 2>&1
    rows=$(($(wc -l <"$VIGIL_DATA/$NAB") - 1))
    t0=$(sed -n 2p "$VIGIL_DATA/$NAB" | cut -d, -f1)
    t1=$(tail -n 1 "$VIGIL_DATA/$NAB" | cut -d, -f1)
    s0=$(date -u -d "$t0" +%s)
    s1=$(date -u -d "$t1" +%s)
    span=$((s1 - s0))
    want_span="$((span / 86400))d$((span % 86400 / 3600))h$((span % 3600 / 60))m"
    # Spacings that do not go forward (the file repeats most of an hour on 2014-01-07).
    back=$(tail -n +2 "$VIGIL_DATA/$NAB" | cut -d, -f1 | while read -r t; do date -u -d "$t" +%s; done |
        awk 'NR > 1 && $1 <= p {n++} {p = $1} END {print n + 0}')
    check_field "nab: header and time column" format "delimited, delimiter ',', header yes, time column 1"
    check_field "nab: rows" rows "$rows"
    check_field "nab: one series" series "1: counter 0, gauge 0, unknown 1"
    check_field "nab: time span" time "$(date -u -d "$t0" +%Y-%m-%dT%H:%M:%SZ) .. $(date -u -d "$t1" +%Y-%m-%dT%H:%M:%SZ) (span $want_span)"
    check_field "nab: 5 minute step" step "5m (median spacing)"
    check_field "nab: rows going back in time" order "$back rows not later than the row before them"
else
    skip_test "NAB absent (set VIGIL_DATA)"
fi

ITU=itu-5gc-nfv-failure/ap_data/02_b_train_data.txt
if have_data "$ITU"; then
    "$VIGIL" inspect "$VIGIL_DATA/$ITU" >"$TMP/out" 2>&1
    rows=$(wc -l <"$VIGIL_DATA/$ITU")
    cols=$(head -n 1 "$VIGIL_DATA/$ITU" | awk '{print NF}')
    check_field "itu: space separated, no header" format "delimited, delimiter spaces, header no, time column none"
    check_field "itu: rows" rows "$rows"
    check_field "itu: columns" series "$cols: counter 0, gauge 0, unknown $cols"
    check_field "itu: entities" entities "1: host ($cols)"
else
    skip_test "ITU absent (set VIGIL_DATA)"
fi

# ---- group rules from a config file and from flags ----
cat >"$TMP/groups.yaml" <<'EOF'
groups:
  rules:
    - match: "^node_load"
      group: other
EOF
"$VIGIL" inspect -c "$TMP/groups.yaml" "$SAMPLE" >"$TMP/out" 2>&1
check_field "config rules come before the defaults" groups "cpu 5, memory 3, network 3, filesystem 2, other 2"
"$VIGIL" inspect --entity-labels interface "$SAMPLE" >"$TMP/out" 2>&1
check_field "--entity-labels overrides the default list" entities "2: host (14), eth0 (1)"
printf 'groups:\n  rules:\n    - match: x\n      group: disk\n' >"$TMP/badgroups.yaml"
expect_exit 1 "a bad group in the config fails" "$VIGIL" inspect -c "$TMP/badgroups.yaml" "$SAMPLE"
expect_out "and names the config line" "badgroups.yaml:4: .*expected a group" \
    "$VIGIL" inspect -c "$TMP/badgroups.yaml" "$SAMPLE"

# ---- bad input: one clear line, exit 1 ----
printf '# TYPE x gauge\nx{a="0"} 1\nx{a="1" 5\n' >"$TMP/bad.prom"
expect_exit 1 "malformed exposition exits 1" "$VIGIL" inspect "$TMP/bad.prom"
expect_out "malformed exposition names line 3" "bad.prom:3:[0-9]+: " "$VIGIL" inspect "$TMP/bad.prom"
printf 'x{a="1" 5\n' >"$TMP/bad1.prom"
# Alone, the line is not recognizably exposition text (the reader's sniffing
# decides), but it is still rejected at line 1.
expect_exit 1 "x{a=\"1\" 5 alone exits 1" "$VIGIL" inspect "$TMP/bad1.prom"
expect_out "x{a=\"1\" 5 alone is rejected at line 1" "bad1.prom:1:" "$VIGIL" inspect "$TMP/bad1.prom"

expect_exit 1 "missing file exits 1" "$VIGIL" inspect "$TMP/nope.prom"
expect_out "missing file is named" "nope.prom: No such file" "$VIGIL" inspect "$TMP/nope.prom"

: >"$TMP/empty.txt"
expect_exit 1 "empty file exits 1" "$VIGIL" inspect "$TMP/empty.txt"
expect_out "empty file says so" "empty.txt: .*(empty|no data)" "$VIGIL" inspect "$TMP/empty.txt"

head -c 4096 "$VIGIL" >"$TMP/binary.dat"
expect_exit 1 "binary file exits 1" "$VIGIL" inspect "$TMP/binary.dat"
expect_out "binary file says binary" "binary.dat:.*binary" "$VIGIL" inspect "$TMP/binary.dat"

gzip -c "$SAMPLE" | head -c 3000 >"$TMP/trunc.prom.gz"
expect_exit 1 "truncated gzip exits 1" "$VIGIL" inspect "$TMP/trunc.prom.gz"
expect_out "truncated gzip says so" "trunc.prom.gz:.*(truncated|corrupt)" "$VIGIL" inspect "$TMP/trunc.prom.gz"

printf 'a,b\n1,2\n3\n' >"$TMP/short.csv"
expect_out "a short CSV row names its line" "short.csv:3" "$VIGIL" inspect "$TMP/short.csv"

# One bad file among good ones: the good one is still summarized, the exit is 1.
expect_exit 1 "a bad file among good ones exits 1" "$VIGIL" inspect "$SAMPLE" "$TMP/bad.prom"
expect_out "the good one is still summarized" "rows +37" "$VIGIL" inspect "$SAMPLE" "$TMP/bad.prom"

for f in "$TMP/bad.prom" "$TMP/empty.txt" "$TMP/binary.dat" "$TMP/trunc.prom.gz" "$TMP/nope"; do
    expect_no_crash "no crash on $(basename "$f")" "$VIGIL" inspect "$f"
done

# ---- usage ----
expect_exit 2 "no FILE is a usage error" "$VIGIL" inspect
expect_exit 2 "an unknown flag is a usage error" "$VIGIL" inspect --frobnicate "$SAMPLE"
expect_exit 2 "a bad flag value is a usage error" "$VIGIL" inspect --icase maybe "$SAMPLE"
expect_exit 0 "--help" "$VIGIL" inspect --help
expect_out "help inspect lists the group options" "--entity-labels" "$VIGIL" help inspect

finish
