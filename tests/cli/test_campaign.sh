#!/usr/bin/env bash
# vigil campaign: plan checks (any user), then, as root with kamailio, sipp,
# stress-ng and iptables installed, the smoke campaign end to end, an
# interrupted run and a crashed run followed by `vigil campaign clean`.
# Whatever happens, everything named after this script's runs is removed.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PLAN=$ROOT/examples/campaign-smoke.yaml

cleanup() {
    if [ "$(id -u)" = 0 ]; then "$VIGIL" campaign clean >/dev/null 2>&1; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# ---- plans, no root needed ----
expect_out "dry run prints the schedule" "2 injections" "$VIGIL" campaign run --plan "$PLAN" --dry-run
expect_out "dry run names both faults" "loss +high +pcscf.*" "$VIGIL" campaign run --plan "$PLAN" --dry-run
printf 'testbed:\n  rate: 20\n  colour: red\n' >"$TMP/bad.yaml"
expect_exit 1 "unknown plan key fails" "$VIGIL" campaign run --plan "$TMP/bad.yaml" --dry-run
expect_out "unknown plan key names file:line" "bad.yaml:3: unknown option 'colour'" \
    "$VIGIL" campaign run --plan "$TMP/bad.yaml" --dry-run
printf 'targets: [scscf]\n' >"$TMP/scscf.yaml"
expect_out "scscf target needs the scscf VM" "scscf.yaml:1: .*scscf: true" \
    "$VIGIL" campaign run --plan "$TMP/scscf.yaml" --dry-run
head -c 300 /dev/urandom >"$TMP/binary.yaml"
expect_exit 1 "binary plan fails cleanly" "$VIGIL" campaign run --plan "$TMP/binary.yaml" --dry-run
expect_exit 1 "missing plan fails" "$VIGIL" campaign run --plan "$TMP/none.yaml" --dry-run
expect_exit 2 "run without --plan is a usage error" "$VIGIL" campaign run --out "$TMP/x"
expect_exit 2 "unknown action is a usage error" "$VIGIL" campaign explode
expect_out "help lists the testbed options" "recv_timeout" "$VIGIL" help campaign

# ---- the testbed, root only ----
missing=""
for p in ip iptables kamailio sipp stress-ng; do
    PATH=$PATH:/usr/sbin:/sbin command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ "$(id -u)" != 0 ] || [ -n "$missing" ]; then
    why="needs root"; [ -n "$missing" ] && why="missing:$missing"
    for t in "smoke campaign" "dataset files" "labels" "service" "tcp round-trip times" \
        "injections" "teardown" \
        "interrupt" "interrupt teardown" "crash leftovers" "clean"; do
        skip_test "$t ($why)"
    done
    finish
fi

# Objects of one run, by its tag: namespaces, cgroups, state file.
leftovers() {
    local tag=$1
    ip netns list 2>/dev/null | grep -c "^$tag-" || true
    find /sys/fs/cgroup -maxdepth 6 -type d -name "$tag-*" 2>/dev/null | wc -l
    ls /run/vigil-camp/"${tag#vigil-camp-}".state 2>/dev/null | wc -l
}
tag_of() { sed -n 's/.*testbed \(vigil-camp-[0-9a-f]*\) up.*/\1/p' "$1" | head -n 1; }
count_left() { leftovers "$1" | awk '{s += $1} END {print s + 0}'; }

OUT=$TMP/smoke
"$VIGIL" campaign run --plan "$PLAN" --out "$OUT" >"$TMP/smoke.out" 2>"$TMP/smoke.err"
rc=$?
if [ $rc -eq 0 ]; then ok "smoke campaign"; else
    not_ok "smoke campaign" "exit $rc" "$(tail -n 20 "$TMP/smoke.err")"; fi
TAG=$(tag_of "$TMP/smoke.err")

rows=$(($(wc -l <"$OUT/metrics.csv") - 1))
if head -n 1 "$OUT/metrics.csv" | grep -q '^timestamp;.*container_cpu_usage_seconds_total{name="pcscf"}' &&
    head -n 1 "$OUT/metrics.csv" | grep -q 'node_network_transmit_packets_total{device="eth1",name="pcscf"}' &&
    [ "$rows" -ge 85 ] && [ "$rows" -le 91 ] && [ -s "$OUT/plan.yaml" ] &&
    grep -qE "^  counters: '\^\((.*\|)?container_cpu_usage_seconds_total\|" "$OUT/types.yaml" &&
    "$VIGIL" inspect -c "$OUT/types.yaml" "$OUT/metrics.csv" 2>&1 | grep -q 'entities  *3: '; then
    ok "dataset files"
else not_ok "dataset files" "rows $rows" "$(head -c 300 "$OUT/metrics.csv")"; fi

# Labels: one per metrics row, same timestamps; both classes on the pcscf, 20 rows each.
lrows=$(($(wc -l <"$OUT/labels.csv") - 1))
n4=$(grep -c ',4,pcscf,2$' "$OUT/labels.csv")
n5=$(grep -c ',5,pcscf,2$' "$OUT/labels.csv")
same_ts=$(diff <(cut -d';' -f1 "$OUT/metrics.csv" | tail -n +2) <(cut -d, -f1 "$OUT/labels.csv" | tail -n +2) >/dev/null && echo yes)
if [ "$lrows" -eq "$rows" ] && [ "$n4" -eq 20 ] && [ "$n5" -eq 20 ] && [ "$same_ts" = yes ] &&
    [ "$(wc -l <"$OUT/labels-class.txt")" -eq "$rows" ] &&
    cmp -s "$OUT/labels-class.txt" "$OUT/labels-pcscf.txt"; then
    ok "labels"
else not_ok "labels" "rows $lrows/$rows, loss $n4, latency $n5, same timestamps: ${same_ts:-no}"; fi

# Service: calls flow (about 20/s), and the latency rows' response time exceeds the normal one.
calls=$(awk -F, 'NR > 1 {s += $2} END {print s + 0}' "$OUT/service.csv")
resp=$(paste -d, <(tail -n +2 "$OUT/labels.csv") <(tail -n +2 "$OUT/service.csv") |
    awk -F, '$14 != "NaN" {if ($2 == 5) {l += $14; nl++} else if ($2 == 0) {b += $14; nb++}}
             END {if (nl && nb) printf "%.0f %.0f", b / nb, l / nl}')
set -- $resp
if [ "$calls" -gt 1000 ] && [ $# -eq 2 ] && [ "$2" -gt $(($1 + 50)) ]; then
    ok "service"
else not_ok "service" "calls $calls, response normal/latency: $resp"; fi

# Over TCP the delayed VM's sockets all show the delay: the min RTT over its sockets rises by
# about 100 ms in the latency rows (column found by name in the header).
rtt=$(paste -d';' <(tail -n +2 "$OUT/labels.csv" | cut -d, -f2) <(tail -n +2 "$OUT/metrics.csv") |
    awk -F';' -v hdr="$(head -n 1 "$OUT/metrics.csv")" 'BEGIN {
            n = split(hdr, h, ";")
            for (i = 1; i <= n; i++) if (h[i] == "node_tcp_info_rtt_seconds{name=\"pcscf\",stat=\"min\"}") col = i + 1
        }
        col && $1 == 5 {l += $col; nl++} col && $1 == 0 {b += $col; nb++}
        END {if (nl && nb) printf "%.0f %.0f", 1000 * b / nb, 1000 * l / nl}')
set -- $rtt
if [ $# -eq 2 ] && [ "$2" -gt $(($1 + 50)) ]; then
    ok "tcp round-trip times"
else not_ok "tcp round-trip times" "pcscf min RTT normal/latency (ms): ${rtt:-no column}"; fi

# Injections did something: packets dropped and delayed.
if grep -qE '^[0-9.]+,[0-9.]+,4,loss,pcscf,2,10,.*dropped [1-9][0-9]* packets' "$OUT/injections.csv" &&
    grep -qE ',5,latency,pcscf,2,100,.*delayed [1-9][0-9]* packets' "$OUT/injections.csv"; then
    ok "injections"
else not_ok "injections" "$(cat "$OUT/injections.csv")"; fi

left=$(count_left "${TAG:-none}")
if [ -n "$TAG" ] && [ "$left" -eq 0 ]; then ok "teardown"; else
    not_ok "teardown" "tag '$TAG', $left objects left" "$(leftovers "${TAG:-none}")"; fi

# ---- SIGINT in the middle: exit 1, rows kept, nothing left ----
OUT2=$TMP/interrupted
"$VIGIL" campaign run --plan "$PLAN" --out "$OUT2" >"$TMP/int.out" 2>"$TMP/int.err" &
pid=$!
for _ in $(seq 1 300); do
    [ -f "$OUT2/metrics.csv" ] && [ "$(wc -l <"$OUT2/metrics.csv")" -ge 4 ] && break
    sleep 0.1
done
kill -INT $pid
wait $pid
rc=$?
TAG2=$(tag_of "$TMP/int.err")
if [ $rc -eq 1 ] && grep -q interrupted "$TMP/int.err" && [ "$(wc -l <"$OUT2/metrics.csv")" -ge 4 ]; then
    ok "interrupt"
else not_ok "interrupt" "exit $rc" "$(tail -n 5 "$TMP/int.err")"; fi
left=$(count_left "${TAG2:-none}")
if [ -n "$TAG2" ] && [ "$left" -eq 0 ]; then ok "interrupt teardown"; else
    not_ok "interrupt teardown" "tag '$TAG2', $left left"; fi

# ---- SIGKILL: leftovers stay, `campaign clean` removes them ----
OUT3=$TMP/crashed
"$VIGIL" campaign run --plan "$PLAN" --out "$OUT3" >"$TMP/crash.out" 2>"$TMP/crash.err" &
pid=$!
for _ in $(seq 1 300); do
    [ -f "$OUT3/metrics.csv" ] && [ "$(wc -l <"$OUT3/metrics.csv")" -ge 2 ] && break
    sleep 0.1
done
kill -KILL $pid
wait $pid 2>/dev/null
TAG3=$(tag_of "$TMP/crash.err")
left=$(count_left "${TAG3:-none}")
if [ -n "$TAG3" ] && [ "$left" -ge 3 ]; then ok "crash leftovers"; else
    not_ok "crash leftovers" "tag '$TAG3', $left objects"; fi
"$VIGIL" campaign clean >"$TMP/clean.out" 2>&1
rc=$?
left=$(count_left "${TAG3:-none}")
procs=0
for p in $(pgrep -x sipp; pgrep -x kamailio); do
    grep -q "$TMP/crashed" "/proc/$p/cmdline" 2>/dev/null && procs=$((procs + 1))
done
if [ $rc -eq 0 ] && [ "$left" -eq 0 ] && [ "$procs" -eq 0 ]; then ok "clean"; else
    not_ok "clean" "exit $rc, $left objects and $procs processes left" "$(cat "$TMP/clean.out")"; fi
finish
