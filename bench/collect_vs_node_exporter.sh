#!/usr/bin/env bash
# Side by side in one run: CPU time per metric sample of `vigil collect
# --interval 100ms` (collection plus serving /metrics) against Debian's
# prometheus-node-exporter, both on 127.0.0.1 and both scraped every
# 100 ms. CPU is the sum of /proc/PID/task/*/schedstat (ns on CPU, every
# thread) over the measured window; series are the sample lines of one scrape.
# Prints each run and the medians over RUNS runs, and the RSS and PSS of both
# (from /proc/PID/smaps_rollup at the end of the window). `vigil collect` runs
# as vigil-collect when that sits next to vigil; VIGIL_BIN=path/to/a/vigil
# alone in its directory measures the in-process path. VIGIL_SCRAPE=0 leaves
# vigil unscraped during the window (node-exporter is still scraped): vigil's
# figure is then its collection alone, as with a Prometheus that scrapes every
# 15 s while vigil ticks every 100 ms (/metrics renders on demand).
# SCRAPER=curl (the default) opens a new TCP connection per scrape (one curl
# per 100 ms); SCRAPER=keepalive scrapes both over one kept-alive connection
# each (bench/scrape_keepalive.py), as Prometheus does, and prints how many
# connections each target saw in the window (1 = kept alive). With it,
# SCRAPE_GZIP=1 adds `Accept-Encoding: gzip` to every request, as Prometheus
# does by default: node-exporter then compresses its answers, vigil answers
# uncompressed.
#
#   bench/collect_vs_node_exporter.sh            # RUNS=5 SECS=10
#   SCRAPER=keepalive [SCRAPE_GZIP=1] bench/collect_vs_node_exporter.sh
#   RUNS=3 SECS=5 VIGIL_ARGS="--set vmstat.fields=. --set netstat.fields=." bench/...
set -u
cd "$(dirname "$0")/.." || exit 1
VIGIL=${VIGIL_BIN:-./vigil}
RUNS=${RUNS:-5}
SECS=${SECS:-10}
VIGIL_ARGS=${VIGIL_ARGS:-}
VIGIL_SCRAPE=${VIGIL_SCRAPE:-1}
SCRAPER=${SCRAPER:-curl}
NE=$(command -v prometheus-node-exporter || true)
if [ -z "$NE" ]; then echo "skip: prometheus-node-exporter not installed"; exit 0; fi
TMP=$(mktemp -d /tmp/vigil-bench-XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"; }
trap cleanup EXIT

cpu_ns() { # pid: ns on CPU summed over its threads
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d", s}'
}
rss_kb() { awk '/^Rss:/ {print $2}' /proc/"$1"/smaps_rollup; }
pss_kb() { awk '/^Pss:/ {print $2}' /proc/"$1"/smaps_rollup; }
# shellcheck source=bench/lib.sh
. bench/lib.sh
series() { grep -vc '^#' "$1"; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "vigil: $("$VIGIL" version | head -1), args: --interval 100ms ${VIGIL_ARGS}, scraped: $VIGIL_SCRAPE, scraper: $SCRAPER, gzip: ${SCRAPE_GZIP:-0}"
echo "node-exporter: $("$NE" --version 2>&1 | head -1)"
printf '%-4s %8s %8s %11s %11s %9s %9s %8s %8s %8s %8s\n' run v_series n_series v_ms/scrape \
    n_ms/scrape v_us/smp n_us/smp v_rss_kB v_pss_kB n_rss_kB n_pss_kB
for run in $(seq 1 "$RUNS"); do
    # shellcheck disable=SC2086
    nice -n 5 "$VIGIL" collect --interval 100ms --listen 127.0.0.1:0 -q $VIGIL_ARGS 2>"$TMP/v.log" &
    VP=$!
    PIDS+=("$VP")
    NPORT=$(free_port)
    nice -n 5 "$NE" --web.listen-address="127.0.0.1:$NPORT" >"$TMP/ne.log" 2>&1 &
    NP=$!
    PIDS+=("$NP")
    VPORT=
    for _ in $(seq 1 100); do
        VPORT=$(sed -n 's/^vigil: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$TMP/v.log")
        [ -n "$VPORT" ] && curl -s -o /dev/null "127.0.0.1:$NPORT/metrics" && break
        sleep 0.1
    done
    if [ -z "$VPORT" ]; then echo "vigil did not start: $(cat "$TMP/v.log")"; exit 1; fi
    VU="http://127.0.0.1:$VPORT/metrics"
    NU="http://127.0.0.1:$NPORT/metrics"
    if [ "$SCRAPER" = keepalive ]; then
        # One kept-alive connection per target; warm-up, window and CPU in one process.
        /usr/bin/python3 bench/scrape_keepalive.py "$SECS" "$TMP" "v:$VIGIL_SCRAPE:$VP:$VU" \
            "n:1:$NP:$NU" \
            >"$TMP/ka.out" || { echo "keep-alive scraper failed"; exit 1; }
        dv=$(awk '$1 == "v" {print $2}' "$TMP/ka.out")
        dn=$(awk '$1 == "n" {print $2}' "$TMP/ka.out")
        scrapes=$(awk '$1 == "n" {print $3}' "$TMP/ka.out")
        vconn=$(awk '$1 == "v" {print $4}' "$TMP/ka.out")
        nconn=$(awk '$1 == "n" {print $4}' "$TMP/ka.out")
        vgz=$(awk '$1 == "v" {print $5}' "$TMP/ka.out")
        ngz=$(awk '$1 == "n" {print $5}' "$TMP/ka.out")
        dt=$(awk '$1 == "elapsed_ns" {print $2}' "$TMP/ka.out")
    else
        # Warm-up: one second of scrapes, then one scrape of each kept for the series count.
        for _ in $(seq 1 10); do curl -s -o /dev/null "$VU" -o /dev/null "$NU"; sleep 0.1; done
        curl -s -o "$TMP/v.prom" "$VU" -o "$TMP/n.prom" "$NU"
        v0=$(cpu_ns "$VP")
        n0=$(cpu_ns "$NP")
        t0=$(date +%s%N)
        scrapes=0
        end=$((t0 + SECS * 1000000000))
        next=$t0
        while [ "$(date +%s%N)" -lt "$end" ]; do
            if [ "$VIGIL_SCRAPE" = 1 ]; then
                curl -s -o /dev/null "$VU" -o /dev/null "$NU"
            else
                curl -s -o /dev/null "$NU"
            fi
            scrapes=$((scrapes + 1))
            next=$((next + 100000000))
            now=$(date +%s%N)
            [ "$next" -gt "$now" ] && sleep "$(awk -v d=$((next - now)) 'BEGIN {printf "%.3f", d / 1e9}')"
        done
        v1=$(cpu_ns "$VP")
        n1=$(cpu_ns "$NP")
        t1=$(date +%s%N)
        dv=$((v1 - v0))
        dn=$((n1 - n0))
        dt=$((t1 - t0))
        vconn=$scrapes
        nconn=$scrapes
    fi
    vs=$(series "$TMP/v.prom")
    ns=$(series "$TMP/n.prom")
    rss=$(rss_kb "$VP")
    pss=$(pss_kb "$VP")
    nrss=$(rss_kb "$NP")
    npss=$(pss_kb "$NP")
    [ "$run" = 1 ] && [ "$SCRAPER" = keepalive ] &&
        echo "TCP connections in the window: vigil $vconn, node-exporter $nconn (1 = kept alive);" \
            "gzip answers (SCRAPE_GZIP=${SCRAPE_GZIP:-0}): vigil $vgz, node-exporter $ngz"
    [ "$run" = 1 ] && echo "vigil runs as $(cat /proc/"$VP"/comm), $(grep -c '[.]so' /proc/"$VP"/maps) library mappings"
    # vigil collects every 100 ms whatever the scrapes; count its ticks by elapsed time.
    ticks=$(awk -v t="$dt" 'BEGIN {printf "%d", t / 1e8}')
    v_ms=$(awk -v c="$dv" -v n="$ticks" 'BEGIN {printf "%.3f", c / n / 1e6}')
    n_ms=$(awk -v c="$dn" -v n="$scrapes" 'BEGIN {printf "%.3f", c / n / 1e6}')
    v_us=$(awk -v c="$dv" -v n="$ticks" -v s="$vs" 'BEGIN {printf "%.3f", c / n / s / 1e3}')
    n_us=$(awk -v c="$dn" -v n="$scrapes" -v s="$ns" 'BEGIN {printf "%.3f", c / n / s / 1e3}')
    printf '%-4s %8s %8s %11s %11s %9s %9s %8s %8s %8s %8s\n' "$run" "$vs" "$ns" "$v_ms" "$n_ms" \
        "$v_us" "$n_us" "$rss" "$pss" "$nrss" "$npss"
    echo "$vs $ns $v_ms $n_ms $v_us $n_us $rss $scrapes $pss $nrss $npss" >>"$TMP/runs"
    kill -INT "$VP"; wait "$VP" 2>/dev/null
    kill "$NP"; wait "$NP" 2>/dev/null
    PIDS=()
done
med() { awk -v c="$1" '{print $c}' "$TMP/runs" | median; }
printf '%-4s %8s %8s %11s %11s %9s %9s %8s %8s %8s %8s\n' med "$(med 1)" "$(med 2)" "$(med 3)" \
    "$(med 4)" "$(med 5)" "$(med 6)" "$(med 7)" "$(med 9)" "$(med 10)" "$(med 11)"
echo "ratio node-exporter/vigil per sample: $(awk -v a="$(med 6)" -v b="$(med 5)" 'BEGIN {printf "%.1f", a / b}')x"
echo "scrapes per run: $(med 8) over ${SECS}s"
