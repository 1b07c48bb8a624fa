#!/usr/bin/env bash
# vigil collect: ticks over a fixture root written to --out, /metrics and
# /healthz over HTTP on a free port, clean exit 0 on SIGINT and SIGTERM, and
# exit 2 / 1 for bad flags and unusable sources.
. "$(dirname "$0")/lib.sh"
ROOT=tests/data/proc/ok

expect_exit 0 "three ticks to a file" "$VIGIL" collect --count 3 --interval 10ms --root "$ROOT" \
    --out "$TMP/scrapes.prom"
n=$(grep -c '^node_load1 1.09 [0-9]\{13\}$' "$TMP/scrapes.prom")
if [ "$n" = 3 ]; then ok "three timestamped samples of node_load1"; else
    not_ok "three timestamped samples of node_load1" "got $n"; fi
n=$(grep -c '^# TYPE node_load1 gauge$' "$TMP/scrapes.prom")
if [ "$n" = 1 ]; then ok "# TYPE written once per family"; else not_ok "# TYPE once" "got $n"; fi
if grep -q '^node_cpu_seconds_total{cpu="0",mode="user"} ' "$TMP/scrapes.prom" &&
   grep -q '^node_network_receive_bytes_total{device="eth0"} 284345348 ' "$TMP/scrapes.prom"; then
    ok "node-exporter names in the file"; else not_ok "node-exporter names in the file"; fi
expect_exit 0 "appends on a second run" "$VIGIL" collect -n 1 -r "$ROOT" -o "$TMP/scrapes.prom" -q
n=$(grep -c '^node_load1 ' "$TMP/scrapes.prom")
if [ "$n" = 4 ]; then ok "appended, not truncated"; else not_ok "appended" "got $n"; fi

# HTTP on a free port, stopped by SIGINT.
start_server() { # log file
    "$VIGIL" collect --interval 50ms --root "$ROOT" --listen 127.0.0.1:0 --duration 20s 2>"$1" &
    PID=$!
    PORT=
    for _ in $(seq 1 100); do
        PORT=$(sed -n 's/^vigil: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$1")
        [ -n "$PORT" ] && break
        sleep 0.05
    done
}
start_server "$TMP/server.log"
if [ -n "$PORT" ]; then ok "server reports its port"; else not_ok "server reports its port" "$(cat "$TMP/server.log")"; fi
sleep 0.2
# vigil collect runs as the lean vigil-collect, which maps neither libvirt, OpenBLAS nor curl.
comm=$(cat /proc/"$PID"/comm 2>/dev/null)
if [ "$comm" = vigil-collect ] && ! grep -qE 'libvirt|libopenblas|libcurl' /proc/"$PID"/maps; then
    ok "runs as the lean vigil-collect"; else not_ok "runs as the lean vigil-collect" "comm $comm"; fi
code=$(curl -s -o "$TMP/metrics" -w '%{http_code}' "http://127.0.0.1:$PORT/metrics")
if [ "$code" = 200 ] && grep -q '^# TYPE node_cpu_seconds_total counter$' "$TMP/metrics" &&
   grep -q '^node_load5 0.83$' "$TMP/metrics"; then ok "GET /metrics"; else
    not_ok "GET /metrics" "code $code" "$(head -c 300 "$TMP/metrics")"; fi
ctype=$(curl -s -o /dev/null -w '%{content_type}' "http://127.0.0.1:$PORT/metrics")
case "$ctype" in "text/plain; version=0.0.4"*) ok "exposition content type" ;;
    *) not_ok "exposition content type" "$ctype" ;; esac
code=$(curl -s -o "$TMP/h" -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")
if [ "$code" = 200 ]; then ok "GET /healthz"; else not_ok "GET /healthz" "$code"; fi
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/metrics")
if [ "$code" = 405 ]; then ok "POST is 405"; else not_ok "POST is 405" "$code"; fi
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/nope")
if [ "$code" = 404 ]; then ok "unknown path is 404"; else not_ok "unknown path is 404" "$code"; fi
kill -INT "$PID"
wait "$PID"
rc=$?
# Stopped by the signal itself, not by --duration.
if [ "$rc" = 0 ] && grep -q 'collect: stopping on signal 2$' "$TMP/server.log"; then
    ok "SIGINT exits 0"; else not_ok "SIGINT exits 0" "rc $rc" "$(tail -3 "$TMP/server.log")"; fi
start_server "$TMP/server2.log"
sleep 0.2
kill -TERM "$PID"
wait "$PID"
rc=$?
if [ "$rc" = 0 ] && grep -q 'collect: stopping on signal 15$' "$TMP/server2.log"; then
    ok "SIGTERM exits 0"; else not_ok "SIGTERM exits 0" "rc $rc" "$(tail -3 "$TMP/server2.log")"; fi
expect_exit 0 "--duration stops" "$VIGIL" collect --interval 20ms --duration 150ms -r "$ROOT" -o "$TMP/d.prom"

# --nats: one message per tick on vigil.metrics.<host>, checked on the server's monitor.
NATS=$(command -v nats-server || true)
if [ -n "$NATS" ] && "$VIGIL" version | grep -q nats; then
    # A random port may be taken: try a few until the server answers its health check.
    for _try in 1 2 3 4 5; do
        P=$(free_port) # and P + 1
        "$NATS" -js -a 127.0.0.1 -p "$P" -m $((P + 1)) -sd "$TMP/js" >/dev/null 2>&1 &
        NPID=$!
        up=0
        for _ in $(seq 1 400); do # up to 20 s: JetStream starts slowly on a loaded machine
            curl -s "127.0.0.1:$((P + 1))/healthz" >/dev/null && { up=1; break; }
            kill -0 "$NPID" 2>/dev/null || break
            sleep 0.05
        done
        [ "$up" = 1 ] && break
        kill "$NPID" 2>/dev/null; wait "$NPID" 2>/dev/null
    done
    expect_exit 0 "publishes to NATS" "$VIGIL" collect --count 4 --interval 10ms -r "$ROOT" \
        --nats "nats://127.0.0.1:$P" -q
    msgs=$(curl -s "127.0.0.1:$((P + 1))/jsz?streams=1" | grep -o '"messages": *[0-9]*' | head -1)
    case "$msgs" in *4) ok "four messages in VIGIL_METRICS" ;; *) not_ok "four messages" "$msgs" ;; esac
    # The stream is bounded in size as well as age (docs/formats.md).
    cfg=$(curl -s "127.0.0.1:$((P + 1))/jsz?streams=1&config=1")
    if echo "$cfg" | grep -q '"max_bytes": *2147483648' &&
       echo "$cfg" | grep -q '"max_age": *86400000000000'; then
        ok "VIGIL_METRICS: 24 h, 2 GiB"; else not_ok "VIGIL_METRICS: 24 h, 2 GiB" "$(echo "$cfg" | head -c 600)"; fi
    # A server restart mid-run, without its store: ticks while it is away are counted and
    # logged, not fatal; the stream is made again and publishing resumes.
    jsmsgs() { curl -s "127.0.0.1:$((P + 1))/jsz?streams=1" | grep -o '"messages": *[0-9]*' | head -1 | grep -o '[0-9]*$'; }
    "$VIGIL" collect --interval 50ms --duration 8s -r "$ROOT" --nats "nats://127.0.0.1:$P" \
        2>"$TMP/outage.log" &
    VPID=$!
    sleep 1.5
    kill "$NPID"; wait "$NPID" 2>/dev/null
    sleep 1.5
    up=0
    "$NATS" -js -a 127.0.0.1 -p "$P" -m $((P + 1)) -sd "$TMP/js2" >/dev/null 2>&1 &
    NPID=$!
    for _ in $(seq 1 400); do
        curl -s "127.0.0.1:$((P + 1))/healthz" >/dev/null && { up=1; break; }
        sleep 0.05
    done
    wait "$VPID"
    rc=$?
    after=$(jsmsgs)
    if [ "$up" = 1 ] && [ "$rc" = 0 ] &&
       grep -q 'ticks are not published until a publish succeeds' "$TMP/outage.log" &&
       grep -q 'publishing again, after [0-9]* ticks not published' "$TMP/outage.log" &&
       grep -q 'no stream captures the subject' "$TMP/outage.log" &&
       grep -q 'ticks not stored' "$TMP/outage.log" && [ "${after:-0}" -gt 0 ]; then
        ok "NATS server restart: counted, logged, stream made again, publishing resumes"
    else
        not_ok "NATS server restart" "up $up, rc $rc, messages after ${after:-none}" \
            "$(grep -v 'info: \(libvirt\|ovs\)' "$TMP/outage.log" | tail -5)"
    fi
    kill "$NPID"; wait "$NPID" 2>/dev/null
    expect_exit 1 "NATS server gone" "$VIGIL" collect --count 1 -r "$ROOT" --nats "nats://127.0.0.1:$P" -q
else
    skip_test "nats-server or libnats absent"
fi

# Open vSwitch through a stand-in ovs-vsctl; skipped cleanly when the command is absent.
expect_out "ovs interface counters" 'ovs_interface_rx_packets\{interface="tap3f0c5e7a-21"\} 601223 ' \
    "$VIGIL" collect -c ovs -s ovs.command=tests/data/ovs/ovs-vsctl -n 1 -o - -q
expect_exit 0 "no ovs-vsctl: ovs is skipped, the rest runs" "$VIGIL" collect -r "$ROOT" \
    -c ovs,loadavg -s ovs.command=/nonexistent-vigil/ovs-vsctl -n 1 -o "$TMP/ovs.prom" -q
if grep -q '^node_load1 ' "$TMP/ovs.prom" && ! grep -q '^ovs_' "$TMP/ovs.prom"; then
    ok "loadavg without ovs"; else not_ok "loadavg without ovs"; fi
# Processes by name (off by default) over a fixture /proc.
expect_out "nginx group" 'namedprocess_namegroup_num_procs\{groupname="nginx"\} 2 ' \
    "$VIGIL" collect -r tests/data/process -c process -s process.names=nginx,postgres -n 1 -o - -q
expect_exit 1 "process without names" "$VIGIL" collect -r tests/data/process -c process -n 1 -q
expect_out "says what is missing" "process.names" "$VIGIL" collect -r tests/data/process -c process -n 1
if "$VIGIL" collect -r "$ROOT" -n 1 -o - -q | grep -q '^namedprocess_'; then
    not_ok "process is off by default"; else ok "process is off by default"; fi
expect_exit 0 "--retire 0 keeps every series" "$VIGIL" collect -r "$ROOT" --retire 0 -n 1 -q
expect_exit 2 "bad --retire" "$VIGIL" collect -r "$ROOT" --retire soon -n 1

# Usage errors are exit 2, unusable sources exit 1.
expect_exit 2 "nothing to do" "$VIGIL" collect
expect_exit 2 "bad interval" "$VIGIL" collect --interval abc --count 1
expect_exit 2 "bad count" "$VIGIL" collect --count -3
expect_exit 2 "unknown collector" "$VIGIL" collect --collectors stat,nosuch --count 1
expect_out "names the collector" "nosuch" "$VIGIL" collect --collectors stat,nosuch --count 1
expect_exit 2 "unknown option" "$VIGIL" collect --set stat.nosuch=1 --count 1
expect_exit 2 "malformed --set" "$VIGIL" collect --set novalue --count 1
expect_exit 2 "bad listen address" "$VIGIL" collect --listen localhost:80 --count 1
expect_exit 2 "stray argument" "$VIGIL" collect --count 1 extra
expect_exit 1 "no source under root" "$VIGIL" collect --root /nonexistent-vigil --count 1
expect_exit 1 "unwritable --out" "$VIGIL" collect -r "$ROOT" --count 1 --out /nonexistent-vigil/x.prom
expect_exit 1 "bad regex option" "$VIGIL" collect -r "$ROOT" -c vmstat --set 'vmstat.fields=(' --count 1
expect_exit 0 "--help" "$VIGIL" collect --help
expect_out "--list shows cgroup" "^cgroup " "$VIGIL" collect --list
expect_exit 0 "help collect" "$VIGIL" help collect
finish
