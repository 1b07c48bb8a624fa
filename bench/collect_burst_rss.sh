#!/usr/bin/env bash
# Resident memory of `vigil collect` (HTTP and NATS, every field, scraped
# once a second) before, during and after a burst beside it, in one run:
#   LOAD=cpu    stress-ng --cpu 4 for 60 s (ticks and the NATS server delayed)
#   LOAD=churn  30 veth pairs and 30 network namespaces in the root namespace
#               for 15 s (960 more series while they exist; needs root)
# Prints RSS, the heap's resident kB and the series served at each step.
# With LOAD=churn, RETIRE=D passes --retire D (vigil's default: 300 s) and
# adds a step once the vanished interfaces' series are retired, and ROUNDS=N
# repeats the churn N times with new interface names (does the memory a
# burst leaves behind add up, or is it bounded by the peak?).
#
#   LOAD=churn bench/collect_burst_rss.sh        # VIGIL_BIN=path for another build
#   LOAD=churn RETIRE=10s ROUNDS=3 bench/collect_burst_rss.sh
set -u
cd "$(dirname "$0")/.." || exit 1
VIGIL=${VIGIL_BIN:-./vigil}
LOAD=${LOAD:-cpu}
RETIRE=${RETIRE:-}
ROUNDS=${ROUNDS:-1}
for c in nats-server curl; do
    command -v "$c" >/dev/null || { echo "skip: $c not installed"; exit 0; }
done
[ "$LOAD" = cpu ] && ! command -v stress-ng >/dev/null && { echo "skip: stress-ng not installed"; exit 0; }
[ "$LOAD" = churn ] && [ "$(id -u)" != 0 ] && { echo "skip: LOAD=churn needs root"; exit 0; }
T=$(mktemp -d /tmp/vigil-burst-XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    if [ "$LOAD" = churn ]; then
        for r in $(seq 1 "$ROUNDS"); do
            for i in $(seq 1 30); do
                ip link del "vb${r}x$i" 2>/dev/null
                ip netns del "vbns${r}x$i" 2>/dev/null
            done
        done
    fi
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nats-server -js -a 127.0.0.1 -p "$PORT" -sd "$T/js" >/dev/null 2>&1 &
PIDS+=($!)
sleep 1
"$VIGIL" collect --interval 100ms -q --listen 127.0.0.1:0 --nats "nats://127.0.0.1:$PORT" \
    --set vmstat.fields=. --set netstat.fields=. ${RETIRE:+--retire "$RETIRE"} 2>"$T/v.log" &
VP=$!
PIDS+=("$VP")
VPORT=
for _ in $(seq 1 50); do
    VPORT=$(sed -n 's/^vigil: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$T/v.log")
    [ -n "$VPORT" ] && break
    sleep 0.1
done
[ -n "$VPORT" ] || { echo "vigil did not start: $(cat "$T/v.log")"; exit 1; }
(while kill -0 "$VP" 2>/dev/null; do curl -s -o /dev/null "127.0.0.1:$VPORT/metrics"; sleep 1; done) &
PIDS+=($!)
step() {
    local rss heap series
    rss=$(awk '/VmRSS/ {print $2}' /proc/"$VP"/status)
    heap=$(awk '/^[0-9a-f]+-[0-9a-f]+ / {n = $6} /^Rss:/ {if (n == "[heap]") h += $2} END {print h + 0}' /proc/"$VP"/smaps)
    series=$(curl -s "127.0.0.1:$VPORT/metrics" | grep -vc '^#')
    printf '%-12s RSS %6s kB  heap %5s kB  series %5s\n' "$1" "$rss" "$heap" "$series"
}
echo "vigil: $("$VIGIL" version | head -1), load: $LOAD"
sleep 15
step before
if [ "$LOAD" = cpu ]; then
    stress-ng --cpu 4 --timeout 60s >/dev/null 2>&1 &
    PIDS+=($!)
    sleep 30
    step "load 30 s"
    sleep 30
    step "load 60 s"
    sleep 25
    step "after 25 s"
else
    for r in $(seq 1 "$ROUNDS"); do
        for i in $(seq 1 30); do
            ip link add "vb${r}x$i" type veth peer name "vbp${r}x$i"
            ip netns add "vbns${r}x$i"
        done
        sleep 15
        step "60 links"
        for i in $(seq 1 30); do ip link del "vb${r}x$i"; ip netns del "vbns${r}x$i"; done
        sleep 25
        step "after 25 s"
        if [ -n "$RETIRE" ]; then
            # seconds of the grace period, from "10s", "2m" or "300" (seconds)
            g=$(echo "$RETIRE" | awk '/m$/ {print $0 * 60; next} {print $0 + 0}')
            [ "$g" -gt 20 ] && sleep $((g - 20))
            sleep 5
            step "retired"
        fi
    done
fi
