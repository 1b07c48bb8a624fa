#!/usr/bin/env bash
# How close `vigil collect --interval 100ms` is to the floor of its own
# system calls, side by side in one run with prometheus-node-exporter.
#
# The floor is build/bench/bench_collect_floor: every 100 ms it preads the
# files vigil reads at each tick (with vigil's preads: -w for single_open
# ones) and statfs's the mounts vigil statfs's (both lists taken from the
# running vigil with strace), and it answers each scrape with the page vigil
# served, as one sendmsg over a kept-alive connection. No
# parsing, no rendering: the kernel's cost of producing those files, sending
# that page and waking up twice a tick, which no collector reading the same
# sources and serving the same page gets under. All three are scraped every
# 100 ms over one kept-alive connection each (bench/scrape_keepalive.py);
# CPU is the sum of /proc/PID/task/*/schedstat over the window; odd runs
# scrape vigil first in each round, even runs the floor first.
#
#   bash bench/collect_floor.sh                  # RUNS=5 SECS=10, default fields
#   VIGIL_ARGS="--set vmstat.fields=. --set netstat.fields=." bash bench/collect_floor.sh
#   SCRAPE=0 bash bench/collect_floor.sh         # vigil and the floor not scraped
#   NOHELP=1 bash bench/collect_floor.sh         # a 4th target: the floor serving
#                                                # the page without its # HELP lines
# Prints, per run and as medians, ms of CPU per 100 ms tick for vigil and the
# floor (per scrape for node-exporter), vigil over the floor, and the floor in
# % of a core.
set -u
cd "$(dirname "$0")/.." || exit 1
VIGIL=${VIGIL_BIN:-./vigil}
FLOOR=${FLOOR_BIN:-${VIGIL_BUILD:-build}/bench/bench_collect_floor}
RUNS=${RUNS:-5}
SECS=${SECS:-10}
VIGIL_ARGS=${VIGIL_ARGS:-}
SCRAPE=${SCRAPE:-1}
NOHELP=${NOHELP:-0}
NE=$(command -v prometheus-node-exporter || true)
for need in "$NE:prometheus-node-exporter" "$(command -v strace):strace" "$FLOOR:$FLOOR (make $FLOOR)"; do
    if [ ! -x "${need%%:*}" ]; then echo "skip: ${need#*:} not found"; exit 0; fi
done
TMP=$(mktemp -d /tmp/vigil-floor-XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"; }
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. bench/lib.sh

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), kernel $(uname -r)"
echo "vigil: $("$VIGIL" version | head -1), args: --interval 100ms $VIGIL_ARGS; scraped: $SCRAPE; floor without # HELP: $NOHELP"
printf '%-4s %7s %9s %9s %9s %9s %9s %9s\n' run series v_ms f_ms nohelp_ms n_ms v/f f_core%
for run in $(seq 1 "$RUNS"); do
    # shellcheck disable=SC2086
    nice -n 5 "$VIGIL" collect --interval 100ms --listen 127.0.0.1:0 -q $VIGIL_ARGS 2>"$TMP/v.log" &
    VP=$!
    PIDS=("$VP")
    VPORT=$(wait_line "$TMP/v.log" 's/^vigil: listening on 127.0.0.1:\([0-9]*\)$/\1/p')
    if [ -z "$VPORT" ]; then echo "vigil did not start: $(cat "$TMP/v.log")"; exit 1; fi
    sleep 1.5 # past the first discoveries
    # What a tick reads: every descriptor pread at least 5 times in one second
    # (rescans and limits are read once a second), and every statfs'd path.
    timeout 1 strace -qq -e trace=pread64,statfs -p "$VP" -o "$TMP/st" 2>/dev/null
    awk -F'[(,]' '$1 ~ /pread64$/ {n[$2]++} END {for (f in n) if (n[f] >= 5) print f}' "$TMP/st" |
        sort -n | while read -r fd; do readlink "/proc/$VP/fd/$fd"; done >"$TMP/files"
    sed -n 's/^statfs("\(.*\)", {.*/\1/p' "$TMP/st" | sort -u >"$TMP/mounts"
    curl -s -o "$TMP/page.prom" "127.0.0.1:$VPORT/metrics"
    grep -v '^# HELP ' "$TMP/page.prom" >"$TMP/nohelp.prom"
    mapfile -t all <"$TMP/files"
    # The single_open files (f->whole in proc_net.c, proc_sock.c): vigil takes
    # any short read of them as the whole file, of the others only one under 3 KiB.
    files=()
    wopts=()
    for f in "${all[@]}"; do
        if [[ $f =~ ^/proc/([0-9]+/)?net/(snmp|snmp6|netstat|sockstat|sockstat6)$ ]]; then
            wopts+=(-w "$f")
        else
            files+=("$f")
        fi
    done
    mopts=()
    while read -r m; do mopts+=(-s "$m"); done <"$TMP/mounts"
    nice -n 5 "$FLOOR" -i 100 "${mopts[@]}" "${wopts[@]}" "$TMP/page.prom" "${files[@]}" >"$TMP/f.log" 2>&1 &
    FP=$!
    PIDS+=("$FP")
    HP=
    if [ "$NOHELP" = 1 ]; then
        nice -n 5 "$FLOOR" -i 100 "${mopts[@]}" "${wopts[@]}" "$TMP/nohelp.prom" "${files[@]}" >"$TMP/h.log" 2>&1 &
        HP=$!
        PIDS+=("$HP")
    fi
    NPORT=$(free_port)
    nice -n 5 "$NE" --web.listen-address="127.0.0.1:$NPORT" >"$TMP/ne.log" 2>&1 &
    NP=$!
    PIDS+=("$NP")
    FPORT=$(wait_line "$TMP/f.log" 's/^floor: listening on 127.0.0.1:\([0-9]*\)$/\1/p')
    if [ -z "$FPORT" ]; then echo "floor did not start: $(cat "$TMP/f.log")"; exit 1; fi
    # Each round scrapes the targets in turn: odd runs vigil first, even runs the floor first.
    targets=("v:$SCRAPE:$VP:http://127.0.0.1:$VPORT/metrics" "f:$SCRAPE:$FP:http://127.0.0.1:$FPORT/metrics")
    [ $((run % 2)) = 0 ] && targets=("${targets[1]}" "${targets[0]}")
    if [ -n "$HP" ]; then
        HPORT=$(wait_line "$TMP/h.log" 's/^floor: listening on 127.0.0.1:\([0-9]*\)$/\1/p')
        targets+=("h:$SCRAPE:$HP:http://127.0.0.1:$HPORT/metrics")
    fi
    for _ in $(seq 1 100); do curl -s -o /dev/null "127.0.0.1:$NPORT/metrics" && break; sleep 0.1; done
    targets+=("n:1:$NP:http://127.0.0.1:$NPORT/metrics")
    /usr/bin/python3 bench/scrape_keepalive.py "$SECS" "$TMP" "${targets[@]}" >"$TMP/ka.out" ||
        { echo "keep-alive scraper failed"; exit 1; }
    if ! cmp -s "$TMP/f.prom" "$TMP/page.prom"; then echo "the floor served another page"; exit 1; fi
    [ "$run" = 1 ] && echo "a tick: $(wc -l <"$TMP/files") files, $(wc -l <"$TMP/mounts") statfs;" \
        "page $(wc -c <"$TMP/page.prom") bytes ($(wc -c <"$TMP/nohelp.prom") without # HELP)"
    ms() { awk -v k="$1" '$1 == "elapsed_ns" {t = $2} $1 == k {c = $2; s = $3}
        END {if (c == "") print "-"; else if (k == "n") printf "%.3f", c / s / 1e6;
             else printf "%.3f", c / (t / 1e8) / 1e6}' "$TMP/ka.out"; }
    v=$(ms v) f=$(ms f) h=$(ms h) n=$(ms n)
    series=$(grep -vc '^#' "$TMP/page.prom")
    vf=$(awk -v v="$v" -v f="$f" 'BEGIN {printf "%.2f", v / f}')
    core=$(awk -v f="$f" 'BEGIN {printf "%.2f", f}') # ms per 100 ms = % of a core
    printf '%-4s %7s %9s %9s %9s %9s %9s %9s\n' "$run" "$series" "$v" "$f" "$h" "$n" "$vf" "$core"
    echo "$series $v $f $h $n $vf $core" >>"$TMP/runs"
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    PIDS=()
done
med() { awk -v c="$1" '{print $c}' "$TMP/runs" | median; }
printf '%-4s %7s %9s %9s %9s %9s %9s %9s\n' med "$(med 1)" "$(med 2)" "$(med 3)" \
    "$([ "$NOHELP" = 1 ] && med 4 || echo -)" "$(med 5)" "$(med 6)" "$(med 7)"
