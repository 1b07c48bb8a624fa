#!/usr/bin/env bash
# vigil watch, as an operator runs it: usage errors, a short live run (scores
# on /metrics, the JSON API, the page in headless Chromium, SIGHUP reload,
# SIGTERM exit 0), and the issue's acceptance scenario: after a 60 s warm-up a
# CPU burst (stress-ng --cpu 2) appears within 15 s in /api/events as a cpu
# event with its top features, fires an alert in a real Alertmanager and
# resolves when the burst ends. The long scenario is skipped under SAN=1.
. "$(dirname "$0")/lib.sh"

free_port() { # a port nobody listens on (bind race accepted)
    local p
    for _ in $(seq 1 50); do
        p=$(( (RANDOM % 20000) + 20000 ))
        ss -ltn 2>/dev/null | grep -q ":$p " || { echo "$p"; return; }
    done
    echo 0
}
wait_phase() { # port phase timeout_s
    for _ in $(seq 1 $(( $3 * 5 ))); do
        curl -s "127.0.0.1:$1/api/status" 2>/dev/null | grep -q "\"phase\":\"$2\"" && return 0
        sleep 0.2
    done
    return 1
}

# ---- usage and input errors ----
expect_exit 2 "unknown flag" "$VIGIL" watch --bogus
expect_exit 2 "bad listen address" "$VIGIL" watch --listen nope --state "$TMP/u"
expect_out "names the listen value" "nope" "$VIGIL" watch --listen nope --state "$TMP/u"
expect_exit 2 "supervised model refused" "$VIGIL" watch --model rf --state "$TMP/u"
expect_exit 2 "bad warm-up" "$VIGIL" watch --warmup soon --state "$TMP/u"
expect_exit 1 "missing config" "$VIGIL" watch -c "$TMP/none.yaml" --state "$TMP/u"
expect_out "names the missing config" "none.yaml" "$VIGIL" watch -c "$TMP/none.yaml" --state "$TMP/u"
printf 'watch:\n  warmup: 20s\n  tresh: 2\n' > "$TMP/bad.yaml"
expect_exit 1 "unknown config key" "$VIGIL" watch -c "$TMP/bad.yaml" --state "$TMP/u"
expect_out "config error names file and line" "bad.yaml:3" "$VIGIL" watch -c "$TMP/bad.yaml" --state "$TMP/u"
printf 'watch: [1, 2\n' > "$TMP/broken.yaml"
expect_exit 1 "malformed YAML" "$VIGIL" watch -c "$TMP/broken.yaml" --state "$TMP/u"
expect_exit 1 "unusable state dir" "$VIGIL" watch --state /proc/vigil-no --duration 1s
expect_exit 1 "bad alertmanager URL" "$VIGIL" watch --alertmanager ftp://x --state "$TMP/u" --duration 1s
expect_out "help lists engine options" "--consecutive" "$VIGIL" watch --help

# ---- a short live run ----
P=$(free_port)
printf 'watch:\n  warmup: 15s\nlstm-ae:\n  epochs: 5\n  window: 10\n' > "$TMP/w.yaml"
"$VIGIL" watch -c "$TMP/w.yaml" --listen "127.0.0.1:$P" --state "$TMP/s1" -q \
    >"$TMP/w1.out" 2>"$TMP/w1.err" &
WPID=$!
if wait_phase "$P" scoring 90; then ok "reaches scoring after the warm-up"; else
    not_ok "reaches scoring after the warm-up" "$(tail -5 "$TMP/w1.err")"; fi
sleep 2
curl -s "127.0.0.1:$P/metrics" > "$TMP/m1"
if grep -qE '^vigil_anomaly_score\{entity="host",group="cpu"\} [0-9.e+-]+$' "$TMP/m1"; then
    ok "/metrics carries host cpu scores"; else not_ok "/metrics carries host cpu scores" "$(grep vigil_anomaly "$TMP/m1" | head -3)"; fi
grep -q '^# TYPE vigil_anomaly gauge' "$TMP/m1" && ok "/metrics has TYPE lines" || not_ok "/metrics has TYPE lines"
grep -q '^node_cpu_seconds_total{' "$TMP/m1" && ok "/metrics has the collector's series" || not_ok "/metrics has the collector's series"
curl -s "127.0.0.1:$P/api/entities" | grep -q '"entity":"host"' && ok "/api/entities lists the host" || not_ok "/api/entities lists the host"
body=$(curl -s "127.0.0.1:$P/api/events?limit=5")
case "$body" in \[*\]) ok "/api/events is a JSON array" ;; *) not_ok "/api/events is a JSON array" "$body" ;; esac
code=$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$P/api/events?from=abc")
[ "$code" = 400 ] && ok "bad time filter is 400" || not_ok "bad time filter is 400" "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$P/api/scores?entity=host&group=cpu")
[ "$code" = 200 ] && ok "/api/scores answers" || not_ok "/api/scores answers" "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "127.0.0.1:$P/")
[ "$code" = 405 ] && ok "POST is refused" || not_ok "POST is refused" "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$P/etc/passwd")
[ "$code" = 404 ] && ok "nothing outside the routes" || not_ok "nothing outside the routes" "$code"
if ss -ltn | grep -q "127.0.0.1:$P "; then ok "binds 127.0.0.1 only"; else not_ok "binds 127.0.0.1 only"; fi

# The page, as a browser shows it.
CHROME=$(command -v chromium || true)
if [ -n "$CHROME" ]; then
    timeout 60 "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$TMP/chrome" --virtual-time-budget=6000 --dump-dom \
        "http://127.0.0.1:$P/" >"$TMP/dom.html" 2>/dev/null
    grep -q 'phase: <b>scoring</b>' "$TMP/dom.html" && ok "page shows the phase" || not_ok "page shows the phase" "$(grep -o 'id="status">[^<]*' "$TMP/dom.html")"
    grep -q '<tr data-entity="host"><td>host</td>' "$TMP/dom.html" && ok "page heat map has the host row" || not_ok "page heat map has the host row"
    grep -qE 'class="cell( anomaly)?" data-group="cpu" style="background:' "$TMP/dom.html" && ok "page colours the cpu cell" || not_ok "page colours the cpu cell"
    grep -q 'class="radio-panel"' "$TMP/dom.html" && ok "page draws radiography panels" || not_ok "page draws radiography panels"
else
    skip_test "chromium not installed"
fi

# SIGHUP reloads the policy; SIGTERM ends with exit 0.
printf 'watch:\n  warmup: 15s\n  threshold: 2\nlstm-ae:\n  epochs: 5\n  window: 10\n' > "$TMP/w.yaml"
kill -HUP "$WPID"; sleep 1.5
kill -0 "$WPID" 2>/dev/null && ok "SIGHUP keeps running" || not_ok "SIGHUP keeps running"
kill -TERM "$WPID"; wait "$WPID"; rc=$?
[ "$rc" = 0 ] && ok "SIGTERM exits 0" || not_ok "SIGTERM exits 0" "rc $rc $(tail -3 "$TMP/w1.err")"
sqlite3 "$TMP/s1/vigil.db" 'select count(*) from scores' 2>/dev/null | grep -qE '^[1-9]' \
    && ok "score history stored in SQLite" || not_ok "score history stored in SQLite"

# ---- the acceptance scenario (issue 6) ----
case "${VIGIL_BUILD:-build}" in *san*) skip_test "acceptance scenario skipped under SAN"; finish ;; esac
if ! command -v stress-ng >/dev/null; then skip_test "stress-ng not installed"; finish; fi
AM_PID=
AMP=$(free_port)
if command -v prometheus-alertmanager >/dev/null; then
    printf 'route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n' > "$TMP/am.yml"
    prometheus-alertmanager --config.file="$TMP/am.yml" --storage.path="$TMP/am" \
        --web.listen-address="127.0.0.1:$AMP" --cluster.listen-address= >"$TMP/am.log" 2>&1 &
    AM_PID=$!
    for _ in $(seq 1 100); do curl -s "127.0.0.1:$AMP/-/ready" >/dev/null && break; sleep 0.1; done
    AMARG="--alertmanager http://127.0.0.1:$AMP"
else
    AMARG=
fi
cpu_idle_total() { awk '/^cpu /{t=0; for(i=2;i<=NF;i++) t+=$i; print $5+$6, t}' /proc/stat; }
read -r IDLE0 TOT0 < <(cpu_idle_total)
P=$(free_port)
# shellcheck disable=SC2086
"$VIGIL" watch --warmup 60s --listen "127.0.0.1:$P" --state "$TMP/s2" -q $AMARG \
    >"$TMP/w2.out" 2>"$TMP/w2.err" &
WPID=$!
if wait_phase "$P" scoring 150; then ok "scoring after a 60 s warm-up"; else
    not_ok "scoring after a 60 s warm-up" "$(tail -5 "$TMP/w2.err")"; fi
# A burst is only an anomaly where normal is quiet: measure how busy the CPUs were during
# the warm-up (the host's normal). On a host already at full load it is not one.
read -r IDLE1 TOT1 < <(cpu_idle_total)
BUSY=$(( 100 - 100 * (IDLE1 - IDLE0) / (TOT1 - TOT0 + 1) ))
echo "# CPU busy during the warm-up: ${BUSY}%"
# The burst must be new: wait (up to 90 s) for the host's cpu group to be quiet first,
# since another process loading the CPU during the warm-up makes a burst look normal.
quiet=0
for _ in $(seq 1 90); do
    if curl -s "127.0.0.1:$P/api/entities" | \
        grep -q '"entity":"host","rate":[0-9.]*,"groups":{"cpu":{"score":[0-9.]*,"anomaly":0}'; then
        quiet=1; break; fi
    sleep 1
done
if [ "$BUSY" -gt 40 ]; then
    quiet=0
    skip_test "host CPU ${BUSY}% busy during the warm-up: a CPU burst is normal here; latency not asserted"
elif [ "$quiet" = 0 ]; then
    skip_test "host cpu not quiet before the burst (other load on this machine); latency not asserted"
fi
sleep 3
T0=$(date +%s)
T0ISO=$(date -u -d "@$((T0 - 1))" +%Y-%m-%dT%H:%M:%S)
stress-ng --cpu 2 --timeout 40s >/dev/null 2>&1 &
SPID=$!
found=0
for _ in $(seq 1 60); do
    ev=$(curl -s "127.0.0.1:$P/api/events?entity=host&group=cpu&from=$((T0 - 2))")
    start=$(echo "$ev" | grep -o '"start":"[^"]*"' | head -1 | cut -d'"' -f4)
    if [ -n "$start" ] && [[ "$start" > "$T0ISO" ]]; then found=1; break; fi
    sleep 0.5
done
LAT=$(( $(date +%s) - T0 ))
echo "# detection latency: ${LAT} s (event start $start, burst at $T0ISO)"
if [ "$quiet" = 1 ]; then
    if [ "$found" = 1 ] && [ "$LAT" -le 15 ]; then ok "cpu burst reported within 15 s (${LAT} s)"; else
        not_ok "cpu burst reported within 15 s" "found=$found after ${LAT} s" "$(curl -s "127.0.0.1:$P/api/entities" | head -c 600)"; fi
fi
if [ "$found" = 1 ]; then
    echo "$ev" | grep -q '"features":\[{"name":"node_cpu_seconds_total' && ok "event names CPU features first" \
        || not_ok "event names CPU features first" "$(echo "$ev" | head -c 600)"
fi
if [ "$found" = 1 ]; then
    grep -q '"event":"open".*"group":"cpu"' "$TMP/w2.out" && ok "event printed as a JSON line" || not_ok "event printed as a JSON line"
    if [ -n "$AM_PID" ]; then
        sleep 1
        curl -s "127.0.0.1:$AMP/api/v2/alerts" | grep -o '"labels":{[^}]*}' | grep '"entity":"host"' | \
            grep -q '"group":"cpu"' && ok "alert fired in Alertmanager" \
            || not_ok "alert fired in Alertmanager" "$(curl -s "127.0.0.1:$AMP/api/v2/alerts" | head -c 400)"
    fi
    wait "$SPID" 2>/dev/null
    closed=0
    for _ in $(seq 1 60); do
        curl -s "127.0.0.1:$P/api/events?entity=host&group=cpu&from=$((T0 - 2))" | grep -q '"end":"' && { closed=1; break; }
        sleep 1
    done
    [ "$closed" = 1 ] && ok "event closes after the burst" || not_ok "event closes after the burst"
    if [ -n "$AM_PID" ]; then
        sleep 1
        active=$(curl -s "127.0.0.1:$AMP/api/v2/alerts?active=true" | grep -o '"labels":{[^}]*}' | \
            grep '"entity":"host"' | grep -c '"group":"cpu"' || true)
        [ "$active" = 0 ] && ok "alert resolved in Alertmanager" || not_ok "alert resolved in Alertmanager"
        kill "$AM_PID"; wait "$AM_PID" 2>/dev/null
    fi
else
    wait "$SPID" 2>/dev/null
    [ -n "$AM_PID" ] && { kill "$AM_PID"; wait "$AM_PID" 2>/dev/null; }
fi
kill -TERM "$WPID"; wait "$WPID"; rc=$?
[ "$rc" = 0 ] && ok "SIGTERM exits 0 after the scenario" || not_ok "SIGTERM exits 0 after the scenario" "rc $rc"
finish
