#!/usr/bin/env bash
# vigil watch, as an operator runs it: usage errors, a short live run (scores
# on /metrics, the JSON API, the page in headless Chromium, SIGHUP reload,
# SIGTERM exit 0), and the issue's acceptance scenario: after a 60 s warm-up a
# CPU burst (stress-ng --cpu 2) appears within 15 s in /api/events as a cpu
# event with its top features, fires an alert in a real Alertmanager and
# resolves when the burst ends. The long scenario is skipped under SAN=1.
#
# Beside the short live run, two more watches run at the same time (so they
# add little time): one scrapes a synthetic target whose CPU burst and memory
# leak a random forest, trained here with vigil train, must name (fault type
# in the JSON line, /api/events, the page and the alert), and one reads the
# scrapes `vigil collect --nats` publishes through a real nats-server, and must
# mark the publisher stale when the collector stops.
. "$(dirname "$0")/lib.sh"
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT

wait_phase() { # port phase timeout_s
    for _ in $(seq 1 $(( $3 * 5 ))); do
        curl -s "127.0.0.1:$1/api/status" 2>/dev/null | grep -q "\"phase\":\"$2\"" && return 0
        sleep 0.2
    done
    return 1
}
wait_grep() { # url pattern timeout_s: polls url until its body matches
    for _ in $(seq 1 $(( $3 * 5 ))); do
        curl -s "$1" 2>/dev/null | grep -qE -- "$2" && return 0
        sleep 0.2
    done
    return 1
}
dump_page() { # url out: the page as headless Chromium renders it
    timeout 60 "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$TMP/chrome-$RANDOM" --virtual-time-budget=6000 --dump-dom "$1" \
        >"$2" 2>/dev/null
}

# ---- a synthetic scrape target: entity "gen", two CPU counters and two memory gauges ----
gen_scrape() { # user_us idle_us mem cached [ts_ms]
    local ts=${5:+ $5}
    printf '# TYPE app_cpu_seconds_total counter\n'
    printf 'app_cpu_seconds_total{instance="gen",mode="user"} %d.%06d%s\n' $(($1 / 1000000)) $(($1 % 1000000)) "$ts"
    printf 'app_cpu_seconds_total{instance="gen",mode="idle"} %d.%06d%s\n' $(($2 / 1000000)) $(($2 % 1000000)) "$ts"
    printf '# TYPE app_memory_used_bytes gauge\napp_memory_used_bytes{instance="gen"} %d%s\n' "$3" "$ts"
    printf '# TYPE app_memory_cached_bytes gauge\napp_memory_cached_bytes{instance="gen"} %d%s\n' "$4" "$ts"
}
gen_share() { [ "$1" = cpu ] && echo 95 || echo $((15 + RANDOM % 10)); } # user CPU %
gen_mem() { [ "$1" = leak ] && echo $((2800000000 + (RANDOM - 16384) * 1000)) || echo $((2000000000 + (RANDOM - 16384) * 1000)); }
gen_train() { # file labels: 600 scrapes 0.5 s apart; classes 0 normal, 1 cpu_hog, 2 mem_leak
    local u=0 i=0 ts=1700000000000 n k s cls
    : > "$1"; : > "$2"
    for seg in normal:120 cpu:60 normal:60 leak:60 normal:60 cpu:60 normal:60 leak:60 normal:60; do
        n=${seg#*:}; k=${seg%:*}
        case $k in normal) cls=0 ;; cpu) cls=1 ;; leak) cls=2 ;; esac
        for _ in $(seq 1 "$n"); do
            s=$(gen_share "$k"); u=$((u + 5000 * s)); i=$((i + 5000 * (100 - s)))
            gen_scrape "$u" "$i" "$(gen_mem "$k")" $((500000000 + (RANDOM - 16384) * 300)) "$ts" >> "$1"
            echo "$cls" >> "$2"; ts=$((ts + 500))
        done
    done
}
gen_live() { # dir: rewrites dir/m.prom every 0.1 s while dir/run exists; dir/cpu, dir/leak inject
    local d=$1 u=0 i=0 t0 t dt s k
    t0=${EPOCHREALTIME/./}
    while [ -e "$d/run" ]; do
        t=${EPOCHREALTIME/./}; dt=$((t - t0)); t0=$t
        k=normal; [ -e "$d/cpu" ] && k=cpu; [ -e "$d/leak" ] && k=leak
        s=$(gen_share "$k"); u=$((u + dt * s / 100)); i=$((i + dt * (100 - s) / 100))
        gen_scrape "$u" "$i" "$(gen_mem "$k")" $((500000000 + (RANDOM - 16384) * 300)) > "$d/m.tmp"
        mv "$d/m.tmp" "$d/m.prom"
        sleep 0.1
    done
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
expect_exit 1 "missing supervised model" "$VIGIL" watch --supervised "$TMP/none.vmdl" --state "$TMP/u" --duration 1s
expect_out "names the supervised model file" "none.vmdl" "$VIGIL" watch --supervised "$TMP/none.vmdl" --state "$TMP/u" --duration 1s
printf 'VIGILMDL truncated' > "$TMP/junk.vmdl"
expect_exit 1 "corrupt supervised model" "$VIGIL" watch --supervised "$TMP/junk.vmdl" --state "$TMP/u" --duration 1s
"$VIGIL" train -m pca --train tests/data/sample/host.prom -o "$TMP/pca.vmdl" -q >/dev/null 2>&1
expect_out "unsupervised model file refused" "not a supervised" "$VIGIL" watch --supervised "$TMP/pca.vmdl" --state "$TMP/u" --duration 1s
NP=$(free_port)
expect_exit 1 "NATS server down" "$VIGIL" watch --no-host --nats "nats://127.0.0.1:$NP" --state "$TMP/u" --duration 1s
expect_out "names the NATS URL" "nats://127.0.0.1:$NP" "$VIGIL" watch --no-host --nats "nats://127.0.0.1:$NP" --state "$TMP/u" --duration 1s

# ---- beside the short live run: Alertmanager, the synthetic target, the NATS input ----
AM_PID=
AMP=$(free_port)
if command -v prometheus-alertmanager >/dev/null; then
    printf 'route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n' > "$TMP/am.yml"
    prometheus-alertmanager --config.file="$TMP/am.yml" --storage.path="$TMP/am" \
        --web.listen-address="127.0.0.1:$AMP" --cluster.listen-address= >"$TMP/am.log" 2>&1 &
    AM_PID=$!; PIDS="$PIDS $AM_PID"
    for _ in $(seq 1 100); do curl -s "127.0.0.1:$AMP/-/ready" >/dev/null && break; sleep 0.1; done
    AMARG="--alertmanager http://127.0.0.1:$AMP"
else
    AMARG=
fi
GEN=
if [ -x /usr/bin/python3 ]; then
    GEN=$TMP/gen; mkdir -p "$GEN"; touch "$GEN/run"
    gen_train "$TMP/gen-train.prom" "$TMP/gen-labels.txt"
    "$VIGIL" train -m rf --train "$TMP/gen-train.prom" --labels "$TMP/gen-labels.txt" \
        -o "$TMP/faults.vmdl" -q >"$TMP/train.out" 2>&1 || not_ok "vigil train -m rf on the synthetic faults" "$(cat "$TMP/train.out")"
    gen_live "$GEN" &
    PIDS="$PIDS $!"
    GP=$(free_port)
    /usr/bin/python3 -m http.server "$GP" --bind 127.0.0.1 --directory "$GEN" >/dev/null 2>&1 &
    PIDS="$PIDS $!"
    P3=$(free_port)
    # shellcheck disable=SC2086
    # One model for the whole scenario (--retrain 0): this part is about naming the faults;
    # retraining is covered by the unit tests (test_watch.c).
    "$VIGIL" watch --no-host --scrape "http://127.0.0.1:$GP/m.prom" --step 500ms --warmup 20s --retrain 0 \
        --model kmeans --supervised "$TMP/faults.vmdl" --classes normal,cpu_hog,mem_leak \
        --listen "127.0.0.1:$P3" --state "$TMP/s3" $AMARG >"$TMP/w3.out" 2>"$TMP/w3.err" &
    W3=$!; PIDS="$PIDS $W3"
fi
NATS=$(command -v nats-server || true)
if [ -n "$NATS" ] && "$VIGIL" version | grep -q nats; then
    NSP=$(free_port)
    "$NATS" -js -a 127.0.0.1 -p "$NSP" -sd "$TMP/js" >"$TMP/nats.log" 2>&1 &
    PIDS="$PIDS $!"
    for _ in $(seq 1 200); do ss -ltn | grep -q "127.0.0.1:$NSP " && break; sleep 0.1; done
    "$VIGIL" collect --nats "nats://127.0.0.1:$NSP" -i 250ms -q >"$TMP/col.out" 2>&1 &
    CPID=$!; PIDS="$PIDS $CPID"
    P4=$(free_port)
    "$VIGIL" watch --no-host --nats "nats://127.0.0.1:$NSP" --warmup 15s --model kmeans \
        --listen "127.0.0.1:$P4" --state "$TMP/s4" -q >"$TMP/w4.out" 2>"$TMP/w4.err" &
    W4=$!; PIDS="$PIDS $W4"
    PUB=$(hostname | tr '.*> \t' '_____')
fi

# ---- a short live run ----
CHROME=$(command -v chromium || true)
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
if [ -n "$CHROME" ]; then
    dump_page "http://127.0.0.1:$P/" "$TMP/dom.html"
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
# Sent to a thread that has SIGTERM open, if there is one: OpenBLAS starts its
# workers when it loads, before the main loop blocks its signals, and the
# kernel gives a process signal to such a thread when the main loop is busy;
# vigil routes it back to the main loop (exit 0, not death by SIGTERM).
tid=$WPID
for t in /proc/"$WPID"/task/*; do
    blk=$(awk '/^SigBlk:/ {print $2}' "$t/status" 2>/dev/null)
    [ -n "$blk" ] && [ $((0x$blk & 0x4000)) = 0 ] && [ "${t##*/}" != "$WPID" ] && tid=${t##*/}
done
kill -TERM "$tid"; wait "$WPID"; rc=$?
[ "$rc" = 0 ] && ok "SIGTERM exits 0 (sent to thread $tid)" || not_ok "SIGTERM exits 0" "rc $rc $(tail -3 "$TMP/w1.err")"
sqlite3 "$TMP/s1/vigil.db" 'select count(*) from scores' 2>/dev/null | grep -qE '^[1-9]' \
    && ok "score history stored in SQLite" || not_ok "score history stored in SQLite"

# The synthetic target: a CPU burst, then a memory leak, each named by the random forest.
if [ -n "$GEN" ]; then
    if wait_phase "$P3" scoring 60; then ok "synthetic target: scoring"; else
        not_ok "synthetic target: scoring" "$(tail -5 "$TMP/w3.err")"; fi
    sleep 2
    touch "$GEN/cpu"
    if wait_grep "127.0.0.1:$P3/api/events?entity=gen&group=cpu" '"fault":"cpu_hog \(p=' 15; then
        ok "CPU burst: event named cpu_hog in /api/events"; else
        not_ok "CPU burst: event named cpu_hog in /api/events" "$(curl -s "127.0.0.1:$P3/api/events" | head -c 600)"; fi
    if [ -n "$AM_PID" ]; then
        if wait_grep "127.0.0.1:$AMP/api/v2/alerts" '"fault":"cpu_hog \(p=' 5; then
            ok "alert annotation carries the fault type"; else
            not_ok "alert annotation carries the fault type" "$(curl -s "127.0.0.1:$AMP/api/v2/alerts" | head -c 600)"; fi
    fi
    rm -f "$GEN/cpu"; touch "$GEN/leak"
    if wait_grep "127.0.0.1:$P3/api/events?entity=gen&group=memory" '"fault":"mem_leak \(p=' 15; then
        ok "memory leak: event named mem_leak"; else
        not_ok "memory leak: event named mem_leak" "$(curl -s "127.0.0.1:$P3/api/events" | head -c 600)" \
            "$(curl -s "127.0.0.1:$P3/api/entities" | head -c 400)" "$(grep -v '^vigil: warming' "$TMP/w3.err" | tail -6)"; fi
    rm -f "$GEN/leak"
    # The burst ended during the leak: its event is closed, its alert resolved.
    if wait_grep "127.0.0.1:$P3/api/events?entity=gen&group=cpu" '"end":"' 10; then
        ok "CPU burst event closed"; else not_ok "CPU burst event closed" "$(curl -s "127.0.0.1:$P3/api/events?entity=gen&group=cpu" | head -c 400)"; fi
    if [ -n "$AM_PID" ]; then
        resolved=0
        for _ in $(seq 1 25); do
            curl -s "127.0.0.1:$AMP/api/v2/alerts?active=true" | grep -o '"labels":{[^}]*}' | \
                grep '"entity":"gen"' | grep -q '"group":"cpu"' || { resolved=1; break; }
            sleep 0.2
        done
        [ "$resolved" = 1 ] && ok "its alert resolved in Alertmanager" || not_ok "its alert resolved in Alertmanager"
    fi
    grep -q '"event":"open".*"group":"cpu".*"fault":"cpu_hog (p=' "$TMP/w3.out" \
        && ok "JSON line carries the fault type" || not_ok "JSON line carries the fault type" "$(head -c 600 "$TMP/w3.out")"
    if [ -n "$CHROME" ]; then
        dump_page "http://127.0.0.1:$P3/" "$TMP/dom3.html"
        grep -q '<td class="fault">cpu_hog (p=' "$TMP/dom3.html" && ok "page shows the fault type" \
            || not_ok "page shows the fault type" "$(grep -o '<tr class="event">.\{0,300\}' "$TMP/dom3.html" | head -2)"
    fi
    rm -f "$GEN/run"
    kill -TERM "$W3"; wait "$W3"; rc=$?
    [ "$rc" = 0 ] && ok "synthetic watch: SIGTERM exits 0" || not_ok "synthetic watch: SIGTERM exits 0" "rc $rc"
    sqlite3 "$TMP/s3/vigil.db" "select count(*) from events where fault like 'cpu_hog (p=%'" 2>/dev/null \
        | grep -qE '^[1-9]' && ok "fault type stored in SQLite" || not_ok "fault type stored in SQLite"
else
    skip_test "no /usr/bin/python3 to serve the synthetic target"
fi

# The NATS input: the publisher is an entity; it goes stale when the collector stops.
if [ -n "${W4:-}" ]; then
    if wait_phase "$P4" scoring 60; then ok "NATS input: scoring"; else
        not_ok "NATS input: scoring" "$(tail -5 "$TMP/w4.err")"; fi
    curl -s "127.0.0.1:$P4/metrics" > "$TMP/m4"
    grep -q "^vigil_bus_publisher_up{host=\"$PUB\"} 1$" "$TMP/m4" && ok "publisher up on /metrics" \
        || not_ok "publisher up on /metrics" "$(grep vigil_bus "$TMP/m4")"
    # The first steps after the swap may still be filling windows (NaN): poll for a score.
    if wait_grep "127.0.0.1:$P4/metrics" "^vigil_anomaly_score\{entity=\"$PUB\",group=\"cpu\"\} [0-9.e+-]+$" 20; then
        ok "publisher's host scored as entity $PUB"; else
        not_ok "publisher's host scored as entity $PUB" "$(curl -s "127.0.0.1:$P4/metrics" | grep vigil_anomaly_score | head -3)"; fi
    kill -TERM "$CPID"; wait "$CPID" 2>/dev/null
    if wait_grep "127.0.0.1:$P4/metrics" "^vigil_bus_publisher_up\{host=\"$PUB\"\} 0$" 15; then
        ok "publisher marked stale when the collector stops"; else not_ok "publisher marked stale when the collector stops"; fi
    # the last scrapes are in: nothing may open now
    n0=$(grep '"event":"open"' "$TMP/w4.out" | grep -c "\"entity\":\"$PUB\"")
    sleep 4
    curl -s "127.0.0.1:$P4/api/entities" | grep -o "{\"entity\":\"$PUB\"[^]]*" | grep -q '"score":[0-9]' \
        && not_ok "stale publisher has no scores" || ok "stale publisher has no scores"
    n1=$(grep '"event":"open"' "$TMP/w4.out" | grep -c "\"entity\":\"$PUB\"")
    [ "$n1" = "$n0" ] && ok "no events while the publisher is stale" || not_ok "no events while the publisher is stale" "$n0 -> $n1"
    kill -TERM "$W4"; wait "$W4"; rc=$?
    [ "$rc" = 0 ] && ok "NATS watch: SIGTERM exits 0" || not_ok "NATS watch: SIGTERM exits 0" "rc $rc"
else
    skip_test "nats-server or libnats absent"
fi

# ---- the acceptance scenario (issue 6) ----
case "${VIGIL_BUILD:-build}" in *san*) skip_test "acceptance scenario skipped under SAN"; finish ;; esac
if ! command -v stress-ng >/dev/null; then skip_test "stress-ng not installed"; finish; fi
cpu_idle_total() { awk '/^cpu /{t=0; for(i=2;i<=NF;i++) t+=$i; print $5+$6, t}' /proc/stat; }
read -r IDLE0 TOT0 < <(cpu_idle_total)
P=$(free_port)
# shellcheck disable=SC2086
"$VIGIL" watch --warmup 60s --listen "127.0.0.1:$P" --state "$TMP/s2" $AMARG \
    >"$TMP/w2.out" 2>"$TMP/w2.err" &
WPID=$!
# One poller, one request a second from start to end, like a dashboard: the test's own
# requests are part of the host's normal, so they must not change rate between the warm-up
# and the scoring (polling five times faster during the warm-up made the host after the burst
# quieter than normal, and the detector said so). Every wait below reads its files.
(
    while kill -0 "$WPID" 2>/dev/null; do
        curl -s "127.0.0.1:$P/api/entities" >"$TMP/ent.tmp" && mv "$TMP/ent.tmp" "$TMP/ent.json"
        sleep 1
    done
) &
PIDS="$PIDS $!"
scoring=0
for _ in $(seq 1 150); do
    grep -q ' models live ' "$TMP/w2.err" && { scoring=1; break; }
    sleep 1
done
if [ "$scoring" = 1 ]; then ok "scoring after a 60 s warm-up"; else
    not_ok "scoring after a 60 s warm-up" "$(tail -5 "$TMP/w2.err")"; fi
# A burst is only an anomaly where normal is quiet: measure how busy the CPUs were during
# the warm-up (the host's normal). On a host already at full load it is not one.
read -r IDLE1 TOT1 < <(cpu_idle_total)
BUSY=$(( 100 - 100 * (IDLE1 - IDLE0) / (TOT1 - TOT0 + 1) ))
echo "# CPU busy during the warm-up: ${BUSY}%"
# The burst must be new: wait (up to 90 s) for the host's cpu group to be quiet (no event
# open) first, since another process loading the CPU makes a burst look normal.
host_cpu_lines() { grep -cE '"event":"(open|reopen)","id":[0-9]+,"entity":"host","group":"cpu"' "$TMP/w2.out"; }
quiet=0
for _ in $(seq 1 90); do
    if grep -qs '"entity":"host","rate":[0-9.]*,"groups":{"cpu":{"score":[0-9.]*,"anomaly":0}' \
        "$TMP/ent.json"; then
        quiet=1; break; fi
    sleep 1
done
if [ "$BUSY" -gt 40 ]; then
    quiet=0
    skip_test "host CPU ${BUSY}% busy during the warm-up: a CPU burst is normal here; latency not asserted"
elif [ "$quiet" = 0 ]; then
    skip_test "host cpu not quiet before the burst (other load on this machine); latency not asserted"
fi
# Reported = a JSON line opening a host cpu event, or reopening one that closed less than
# `suppress` ago (the policy's rule), printed after the burst started.
n0=$(host_cpu_lines)
T0=$(date +%s)
stress-ng --cpu 2 --timeout 40s >/dev/null 2>&1 &
SPID=$!
found=0
for _ in $(seq 1 60); do
    if [ "$(host_cpu_lines)" -gt "$n0" ]; then found=1; break; fi
    sleep 0.5
done
ev=$(curl -s "127.0.0.1:$P/api/events?entity=host&group=cpu&from=$T0") # the burst's (newest first)
start=$(echo "$ev" | grep -o '"start":"[^"]*"' | head -1 | cut -d'"' -f4)
LAT=$(( $(date +%s) - T0 ))
echo "# detection latency: ${LAT} s (event start $start, burst at $(date -u -d "@$T0" +%H:%M:%S))"
if [ "$quiet" = 1 ]; then
    if [ "$found" = 1 ] && [ "$LAT" -le 15 ]; then ok "cpu burst reported (JSON line, /api/events) within 15 s (${LAT} s)"; else
        not_ok "cpu burst reported within 15 s" "found=$found after ${LAT} s" "$(curl -s "127.0.0.1:$P/api/entities" | head -c 600)"; fi
fi
# What the event says, and that it ends, holds for a burst on a quiet host; on a busy one the
# other load keeps the cpu group anomalous and shares the explanation.
if [ "$found" = 1 ] && [ "$quiet" = 1 ]; then
    # cpu-group series: CPU time per mode, CPU pressure (which a burst on every core raises
    # as much as the idle time falls), scheduler statistics, context switches, interrupts
    # (a burst on every core raises the timer and rescheduling interrupts: on an AMD EPYC
    # VM with kernel 6.18 node_intr_total led once, at 22% of the error)
    echo "$ev" | grep -qE '"features":\[\{"name":"node_(cpu_seconds_total|pressure_cpu_|schedstat_|context_switches|intr_total)' \
        && ok "event names CPU features first" \
        || not_ok "event names CPU features first" "$(echo "$ev" | head -c 600)"
elif [ "$found" = 1 ]; then
    skip_test "host not quiet: explanation, closing and resolution not asserted"
fi
if [ "$found" = 1 ]; then
    if [ -n "$AM_PID" ]; then
        sleep 1
        curl -s "127.0.0.1:$AMP/api/v2/alerts" | grep -o '"labels":{[^}]*}' | grep '"entity":"host"' | \
            grep -q '"group":"cpu"' && ok "alert fired in Alertmanager" \
            || not_ok "alert fired in Alertmanager" "$(curl -s "127.0.0.1:$AMP/api/v2/alerts" | head -c 400)"
    fi
    wait "$SPID" 2>/dev/null
fi
if [ "$found" = 1 ] && [ "$quiet" = 1 ]; then
    # Closed: every host cpu event since the burst has an end (the burst's aftermath may open
    # another one, which must close too).
    closed=0
    read -r IDLE2 TOT2 < <(cpu_idle_total)
    for _ in $(seq 1 60); do # the poller's file: no host cpu event open any more
        if grep -qs '"entity":"host","rate":[0-9.]*,"groups":{"cpu":{"score":[0-9.]*,"anomaly":0}' \
            "$TMP/ent.json"; then closed=1; break; fi
        sleep 1
    done
    ev=$(curl -s "127.0.0.1:$P/api/events?entity=host&group=cpu&from=$((T0 - 2))")
    if [ "$closed" = 1 ] && echo "$ev" | grep -q '"end":null'; then
        closed=0 # the page said normal, the store still has an open event
    fi
    read -r IDLE3 TOT3 < <(cpu_idle_total)
    BUSY2=$(( 100 - 100 * (IDLE3 - IDLE2) / (TOT3 - TOT2 + 1) ))
    echo "# CPU busy after the burst: ${BUSY2}%"
    if [ "$closed" = 1 ]; then ok "event closes after the burst"
    elif [ "$BUSY2" -gt 40 ]; then
        skip_test "host ${BUSY2}% busy after the burst (other load): the cpu group stays anomalous"; closed=skip
    else not_ok "event closes after the burst" \
        "host cpu ratios since the burst: $(curl -s "127.0.0.1:$P/api/scores?entity=host&group=cpu&from=$T0" | grep -o "\"score\":\[[^]]*" | head -c 1200)" \
        "$(grep -v '^vigil: warming' "$TMP/w2.err" | tail -5)"; fi
    if [ -n "$AM_PID" ] && [ "$closed" != skip ]; then
        active=1
        for _ in $(seq 1 10); do
            active=$(curl -s "127.0.0.1:$AMP/api/v2/alerts?active=true" | grep -o '"labels":{[^}]*}' | \
                grep '"entity":"host"' | grep -c '"group":"cpu"' || true)
            [ "$active" = 0 ] && break
            sleep 1
        done
        [ "$active" = 0 ] && ok "alert resolved in Alertmanager" || not_ok "alert resolved in Alertmanager" \
            "$(curl -s "127.0.0.1:$AMP/api/v2/alerts?active=true" | head -c 600)" \
            "$(curl -s "127.0.0.1:$P/api/events?entity=host&group=cpu&from=$((T0 - 2))" | head -c 600)"
    fi
else
    wait "$SPID" 2>/dev/null
fi
kill -TERM "$WPID"; wait "$WPID"; rc=$?
[ "$rc" = 0 ] && ok "SIGTERM exits 0 after the scenario" || not_ok "SIGTERM exits 0 after the scenario" "rc $rc"
finish
