#!/usr/bin/env bash
# Resident memory of `vigil collect` in its three serving modes: /metrics over
# HTTP (--listen), publishing to NATS JetStream (--nats, a local nats-server
# -js started here), and both. Each run starts the collector at 100 ms, waits
# SECS seconds and reads Rss and Pss from /proc/PID/smaps_rollup; prints every
# run and the median of RUNS per mode, the libraries the collector mapped, and
# the first run's RSS per mapping (libraries, heap) of 100 kB or more.
#
#   bench/collect_rss.sh                     # RUNS=5 SECS=6
#   VIGIL_BIN=/tmp/base/vigil bench/collect_rss.sh    # another build
#   VIGIL_ARGS="--set vmstat.fields=. --set netstat.fields=." bench/collect_rss.sh
#   MODES=both RUNS=1 SECS=3600 SAMPLE=300 SCRAPE=1 bench/collect_rss.sh  # an hour
#
# MODES picks the modes; SAMPLE=N also prints the RSS every N seconds of a run
# (flat after warm-up means nothing grows); SCRAPE=1 scrapes /metrics once a
# second while a mode with --listen runs, as a Prometheus at a 1 s interval.
set -u
cd "$(dirname "$0")/.." || exit 1
VIGIL=${VIGIL_BIN:-./vigil}
RUNS=${RUNS:-5}
SECS=${SECS:-6}
VIGIL_ARGS=${VIGIL_ARGS:-}
MODES=${MODES:-listen nats both}
SAMPLE=${SAMPLE:-0}
SCRAPE=${SCRAPE:-0}
NATS=$(command -v nats-server || true)
if [ -z "$NATS" ]; then echo "skip: nats-server not installed"; exit 0; fi
TMP=$(mktemp -d /tmp/vigil-rss-XXXXXX)
NPID=
SPID=
cleanup() {
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null
    [ -n "$NPID" ] && kill "$NPID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. bench/lib.sh

P=$(free_port)
"$NATS" -js -a 127.0.0.1 -p "$P" -sd "$TMP/js" >"$TMP/nats.log" 2>&1 &
NPID=$!
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$P") 2>/dev/null && break
    sleep 0.1
done
URL="nats://127.0.0.1:$P"
echo "vigil: $("$VIGIL" version | head -1), args: --interval 100ms $VIGIL_ARGS, ${SECS}s per run"
rss_now() { awk '/^Rss:/ {print $2}' /proc/"$1"/smaps_rollup; }
for mode in $MODES; do
    case $mode in
    listen) args=(--listen 127.0.0.1:0) ;;
    nats) args=(--nats "$URL") ;;
    both) args=(--listen 127.0.0.1:0 --nats "$URL") ;;
    esac
    : >"$TMP/rss"
    : >"$TMP/pss"
    for run in $(seq 1 "$RUNS"); do
        # shellcheck disable=SC2086
        "$VIGIL" collect --interval 100ms -q "${args[@]}" $VIGIL_ARGS 2>"$TMP/v.log" &
        VP=$!
        SPID=
        if [ "$SCRAPE" = 1 ] && [ "$mode" != nats ]; then
            ( for _ in $(seq 1 100); do
                  port=$(sed -n 's/^vigil: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$TMP/v.log")
                  [ -n "$port" ] && break
                  sleep 0.1
              done
              while :; do curl -s -o /dev/null "http://127.0.0.1:$port/metrics"; sleep 1; done ) &
            SPID=$!
        fi
        if [ "$SAMPLE" -gt 0 ]; then
            for t in $(seq "$SAMPLE" "$SAMPLE" "$SECS"); do
                sleep "$SAMPLE"
                kill -0 "$VP" 2>/dev/null && printf '%-6s run %d: %5d s RSS %6d kB\n' "$mode" "$run" "$t" "$(rss_now "$VP")"
            done
            sleep $((SECS % SAMPLE))
        else
            sleep "$SECS"
        fi
        if ! kill -0 "$VP" 2>/dev/null; then
            echo "$mode: vigil collect exited early:"; cat "$TMP/v.log"; exit 1
        fi
        rss=$(rss_now "$VP")
        pss=$(awk '/^Pss:/ {print $2}' /proc/$VP/smaps_rollup)
        [ "$run" = 1 ] && libs=$(awk '$6 ~ /\.so/ {print $6}' /proc/$VP/maps | sort -u | wc -l) &&
            exe=$(basename "$(readlink /proc/$VP/exe)")
        # The first run's mappings of 100 kB or more, for where the memory is.
        [ "$run" = 1 ] && awk '/^[0-9a-f]+-/ {n = $6 == "" ? "[anon]" : $6} /^Rss:/ {r[n] += $2}
            END {for (k in r) if (r[k] >= 100) printf "    %6d kB %s\n", r[k], k}' /proc/$VP/smaps |
            sort -rn >"$TMP/maps"
        [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
        SPID=
        kill "$VP"; wait "$VP" 2>/dev/null
        echo "$rss" >>"$TMP/rss"
        echo "$pss" >>"$TMP/pss"
        printf '%-6s run %d: RSS %6d kB  PSS %6d kB\n' "$mode" "$run" "$rss" "$pss"
    done
    printf '%-6s median: RSS %.1f MiB, PSS %.1f MiB (%s, %d libraries mapped)\n' "$mode" \
        "$(median <"$TMP/rss" | awk '{print $1 / 1024}')" "$(median <"$TMP/pss" | awk '{print $1 / 1024}')" \
        "$exe" "$libs"
    echo "  $mode, first run, RSS by mapping:"
    cat "$TMP/maps"
done
