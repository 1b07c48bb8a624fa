#!/usr/bin/env bash
# vigil flows: extract (CSV, labels, bad captures), the NSL-KDD converter,
# train + detect on the fixture captures (a flood, a scan, normal traffic:
# tools/gen_flow_fixtures.py), alarm outputs (JSON lines, SQLite, the hook only
# when asked), usage errors, and the NATS scale-out: a sensor publishes
# batches, a worker is killed with SIGKILL holding unacknowledged batches, a
# second worker of the same group gets them again and every batch is scored
# exactly as the offline detector scores it.
. "$(dirname "$0")/lib.sh"
F=tests/data/flows
export OPENBLAS_NUM_THREADS=1

# ---- extract ----
expect_exit 0 "extract a flood" "$VIGIL" flows extract "$F/flood.pcap" -o "$TMP/flood.csv" \
    --label dos --label-dst 10.0.0.1 --labels-out "$TMP/flood.labels"
hdr=$(head -1 "$TMP/flood.csv")
case "$hdr" in "ts,pkts,bytes,duration,pkt_rate"*",syn_only,tcp_noflags,frags,ttl_mean,label")
    ok "CSV header: ts, the 24 features, label" ;; *) not_ok "CSV header" "$hdr" ;; esac
rows=$(($(wc -l <"$TMP/flood.csv") - 1))
if [ "$rows" = 320 ] && [ "$(wc -l <"$TMP/flood.labels")" = 320 ]; then
    ok "320 flows, one label each"; else not_ok "320 flows" "rows $rows"; fi
dos=$(grep -c '^1$' "$TMP/flood.labels")
if [ "$dos" = 300 ]; then ok "--label-dst: the 300 flows to the victim are dos, its replies normal"
else not_ok "--label-dst" "dos rows $dos"; fi
expect_out "stats on stderr" "320 frames, 320 decoded.*320 flows in 2 windows" \
    "$VIGIL" flows extract "$F/flood.pcap" -o /dev/null
expect_out "bad frames counted and skipped" "6 frames, 3 decoded, 1 truncated, 1 malformed, 1 not IP" \
    "$VIGIL" flows extract "$F/odd.pcap" -o "$TMP/odd.csv"
expect_out "--addresses shows IPv6 and VLAN flows" "^[0-9.]+,::1,::2,1," \
    "$VIGIL" flows extract --addresses "$F/odd.pcap"
expect_out "a BPF filter" "252 frames" "$VIGIL" flows extract --filter "host 10.0.0.6 or udp" \
    "$F/normal.pcap" -o /dev/null
expect_out "the window is configurable" "flows in 8 windows" \
    "$VIGIL" flows extract --window 1s "$F/normal.pcap" -o /dev/null
expect_out "a short snap length truncates" "1200 truncated" \
    "$VIGIL" flows extract --snaplen 40 "$F/scan.pcap" -o /dev/null
gzip -c "$F/scan.pcap" >"$TMP/scan.pcap.gz"
expect_out "gzip'd captures" "1200 decoded" "$VIGIL" flows extract "$TMP/scan.pcap.gz" -o /dev/null
"$VIGIL" flows extract "$F/normal.pcap" -o "$TMP/app.csv" --label normal --labels-out "$TMP/app.l" 2>/dev/null
"$VIGIL" flows extract "$F/normal.pcap" -o "$TMP/app.csv" --label normal --labels-out "$TMP/app.l" \
    --append 2>/dev/null
if [ "$(grep -c '^ts,' "$TMP/app.csv")" = 1 ] && [ "$(wc -l <"$TMP/app.l")" = 32 ]; then
    ok "--append adds rows without a second header"; else not_ok "--append"; fi

expect_exit 0 "binary record batches" "$VIGIL" flows extract -f bin "$F/flood.pcap" -o "$TMP/flood.bin"
size=$(stat -c %s "$TMP/flood.bin")
# 320 records of 138 bytes in batches of at most 1024: one header per window (2 windows).
if [ "$size" = $((320 * 138 + 2 * 21)) ]; then ok "batch file size"; else not_ok "batch file size" "$size"; fi
expect_exit 2 "--format bin has no labels" "$VIGIL" flows extract -f bin --label dos "$F/flood.pcap"
expect_exit 2 "bad format" "$VIGIL" flows extract -f xml "$F/flood.pcap"
head -c 3000 "$F/scan.pcap" >"$TMP/cut.pcap"
expect_exit 1 "a truncated capture fails" "$VIGIL" flows extract "$TMP/cut.pcap" -o /dev/null
expect_out "and names the file" "cut.pcap: .*truncated" "$VIGIL" flows extract "$TMP/cut.pcap" -o /dev/null
printf 'hello, not a capture\n' >"$TMP/text.pcap"
expect_exit 1 "not a capture" "$VIGIL" flows extract "$TMP/text.pcap"
expect_out "says so" "text.pcap: not a pcap or pcapng capture" "$VIGIL" flows extract "$TMP/text.pcap"
head -c 100000 /dev/urandom >"$TMP/random.pcap"
expect_no_crash "random bytes" "$VIGIL" flows extract "$TMP/random.pcap"
expect_exit 1 "missing file" "$VIGIL" flows extract "$TMP/nope.pcap"
expect_exit 1 "bad filter" "$VIGIL" flows extract --filter "port port" "$F/scan.pcap"
expect_exit 2 "no capture" "$VIGIL" flows extract
expect_exit 2 "bad window" "$VIGIL" flows extract --window 0 "$F/scan.pcap"
expect_exit 2 "bad label" "$VIGIL" flows extract --label nasty "$F/scan.pcap"
expect_exit 2 "bad victim address" "$VIGIL" flows extract --label dos --label-dst 1.2.3 "$F/scan.pcap"
expect_exit 2 "unknown subcommand" "$VIGIL" flows nosuch
expect_exit 2 "unknown option" "$VIGIL" flows extract --nosuch "$F/scan.pcap"

# ---- train on flows, detect ----
"$VIGIL" flows extract "$F/scan.pcap" -o "$TMP/train.csv" --label probe --label-dst 10.0.0.2 \
    --labels-out "$TMP/train.labels" 2>/dev/null
"$VIGIL" flows extract "$F/flood.pcap" -o "$TMP/train.csv" --label dos --label-dst 10.0.0.1 \
    --labels-out "$TMP/train.labels" --append 2>/dev/null
"$VIGIL" flows extract "$F/normal.pcap" -o "$TMP/train.csv" --label normal \
    --labels-out "$TMP/train.labels" --append 2>/dev/null
expect_exit 0 "vigil train -m mlp on flow records" "$VIGIL" train -q -m mlp --input-log 1e6 \
    --class-weight balanced --epochs 60 --train "$TMP/train.csv" --labels "$TMP/train.labels" \
    -o "$TMP/mlp.vmdl"
"$VIGIL" flows extract "$F/normal.pcap" -o "$TMP/normal.csv" 2>/dev/null
expect_exit 0 "vigil train -m kmeans on normal flows" "$VIGIL" train -q -m kmeans --k 4 \
    --train "$TMP/normal.csv" -o "$TMP/km.vmdl"

expect_exit 0 "detect the flood" "$VIGIL" flows detect --model "$TMP/mlp.vmdl" "$F/flood.pcap" \
    --alarms "$TMP/flood.jsonl" --db "$TMP/alarms.db" --scores "$TMP/flood.scores"
n=$(grep -c . "$TMP/flood.jsonl")
if [ "$n" = 1 ] && grep -q '"class":"dos","score":[0-9.]*,"key":"dst".*"dst":"10.0.0.1"' "$TMP/flood.jsonl"; then
    ok "one dos alarm on the victim"; else not_ok "one dos alarm" "$(head -c 400 "$TMP/flood.jsonl")"; fi
flagged=$(awk -F, '$3=="10.0.0.1" && $4=="dos"' "$TMP/flood.scores" | wc -l)
if [ "$flagged" -ge 290 ]; then ok "flood flows flagged ($flagged of 300)"; else not_ok "flood flows flagged" "$flagged"; fi
if command -v sqlite3 >/dev/null; then
    row=$(sqlite3 "$TMP/alarms.db" "select entity, grp, fault, model, end_ns is not null from events")
    if [ "$row" = "10.0.0.1|network|dos|mlp|1" ]; then ok "alarm stored and closed in SQLite"
    else not_ok "alarm in SQLite" "$row"; fi
else
    skip_test "sqlite3 absent"
fi
expect_exit 0 "detect the scan" "$VIGIL" flows detect --model "$TMP/mlp.vmdl" "$F/scan.pcap" \
    --alarms "$TMP/scan.jsonl"
if grep -q '"class":"probe".*"key":"src","src":"192.0.2.7"' "$TMP/scan.jsonl"; then
    ok "probe alarm on the scanner"; else not_ok "probe alarm" "$(cat "$TMP/scan.jsonl")"; fi
expect_exit 0 "detect normal traffic" "$VIGIL" flows detect --model "$TMP/mlp.vmdl" "$F/normal.pcap" \
    --alarms "$TMP/normal.jsonl"
if [ ! -s "$TMP/normal.jsonl" ]; then ok "no alarm on normal traffic"; else
    not_ok "no alarm on normal traffic" "$(cat "$TMP/normal.jsonl")"; fi
expect_out "alarms on stdout by default" '^\{"time":.*"class":"probe"' \
    "$VIGIL" flows detect --model "$TMP/mlp.vmdl" "$F/scan.pcap"
expect_out "summary on stderr" 'flows detect: 6 flows, flagged: probe [0-9]+; 1 alarms' \
    "$VIGIL" flows detect --model "$TMP/mlp.vmdl" "$F/scan.pcap"
expect_exit 0 "two models: classifier and k-means" "$VIGIL" flows detect --model "$TMP/mlp.vmdl" \
    --model "$TMP/km.vmdl" "$F/scan.pcap" --alarms "$TMP/two.jsonl"
expect_exit 0 "k-means alone flags the scan as an anomaly" "$VIGIL" flows detect --model "$TMP/km.vmdl" \
    "$F/scan.pcap" --alarms "$TMP/km.jsonl"
if grep -q '"class":"anomaly"' "$TMP/km.jsonl"; then ok "anomaly alarm"; else
    not_ok "anomaly alarm" "$(cat "$TMP/km.jsonl")"; fi

# The hook: never by default, run with the alarm when asked.
expect_exit 0 "hook" "$VIGIL" flows detect --model "$TMP/mlp.vmdl" "$F/scan.pcap" --alarms '' \
    --hook "echo \"\$VIGIL_ALARM_CLASS \$VIGIL_ALARM_SRC\" >>'$TMP/hook.out'"
if [ "$(cat "$TMP/hook.out" 2>/dev/null)" = "probe 192.0.2.7" ]; then ok "hook saw the alarm"; else
    not_ok "hook saw the alarm" "$(cat "$TMP/hook.out" 2>/dev/null)"; fi
if ! grep -q hook "$TMP/flood.jsonl"; then ok "no hook without --hook"; else not_ok "no hook"; fi
expect_exit 0 "--min-flows raises the bar" "$VIGIL" flows detect --model "$TMP/mlp.vmdl" \
    "$F/flood.pcap" --min-flows dos=1000 --alarms "$TMP/none.jsonl"
if [ ! -s "$TMP/none.jsonl" ]; then ok "no alarm below min-flows"; else not_ok "min-flows"; fi

# Live capture on the loopback interface: connection attempts to a closed port.
LP=$(( (RANDOM % 20000) + 30000 ))
"$VIGIL" flows detect --model "$TMP/mlp.vmdl" --iface lo --filter "tcp port $LP" --duration 2s \
    --window 500ms --alarms "$TMP/live.jsonl" >"$TMP/live.out" 2>&1 &
LPID=$!
sleep 0.5
for _ in $(seq 1 20); do curl -s -m 1 "http://127.0.0.1:$LP/" >/dev/null 2>&1; done
wait "$LPID"
rc=$?
if [ "$rc" = 0 ] && grep -qE "flows detect: [1-9][0-9]* frames" "$TMP/live.out"; then
    ok "live capture on lo until --duration"
elif grep -qiE "permission|not permitted" "$TMP/live.out"; then
    skip_test "no capture permission on lo"
else
    not_ok "live capture on lo" "rc $rc" "$(cat "$TMP/live.out")"
fi
expect_exit 1 "an unknown interface" "$VIGIL" flows detect --model "$TMP/mlp.vmdl" --iface vigil-nope0

# Bad models and usage.
expect_exit 2 "detect without a model" "$VIGIL" flows detect "$F/scan.pcap"
expect_exit 2 "files and --iface" "$VIGIL" flows detect --model "$TMP/mlp.vmdl" --iface lo "$F/scan.pcap"
expect_exit 2 "bad threshold" "$VIGIL" flows detect --model "$TMP/mlp.vmdl" --threshold 2 "$F/scan.pcap"
expect_exit 2 "bad key" "$VIGIL" flows detect --model "$TMP/mlp.vmdl" --key sideways "$F/scan.pcap"
expect_exit 1 "missing model" "$VIGIL" flows detect --model "$TMP/nope.vmdl" "$F/scan.pcap"
head -c 200 "$TMP/mlp.vmdl" >"$TMP/cut.vmdl"
expect_out "truncated model named" "cut.vmdl: " "$VIGIL" flows detect --model "$TMP/cut.vmdl" "$F/scan.pcap"
printf 'a,b\n1,2\n3,4\n' >"$TMP/ab.csv"
"$VIGIL" train -q -m kmeans --k 1 --train "$TMP/ab.csv" -o "$TMP/ab.vmdl" 2>/dev/null
expect_out "a model of other features is refused" "reads 'a', which is not a flow feature" \
    "$VIGIL" flows detect --model "$TMP/ab.vmdl" "$F/scan.pcap"

# ---- NSL-KDD converter ----
if have_data nsl-kdd/KDDTest-21.txt; then
    expect_exit 0 "nslkdd converts" "$VIGIL" flows nslkdd "$VIGIL_DATA/nsl-kdd/KDDTest-21.txt" \
        -o "$TMP/k.csv" --labels-out "$TMP/k.labels"
    if [ "$(wc -l <"$TMP/k.labels")" = 11850 ] && [ "$(head -1 "$TMP/k.csv" | tr ',' '\n' | wc -l)" = 122 ]; then
        ok "11850 rows of 122 features"; else not_ok "nslkdd shape"; fi
else
    skip_test "NSL-KDD absent"
fi
printf '0,tcp,http,SF,1,2,0\n' >"$TMP/short.txt"
expect_out "nslkdd names line and column" "short.txt:1:[0-9]+: 7 fields" \
    "$VIGIL" flows nslkdd "$TMP/short.txt" -o "$TMP/s.csv" --labels-out "$TMP/s.l"
expect_exit 2 "nslkdd needs its outputs" "$VIGIL" flows nslkdd "$TMP/short.txt"

# ---- NATS: sensor, workers, a worker killed mid-batch ----
NATS=$(command -v nats-server || true)
if [ -n "$NATS" ] && "$VIGIL" version | grep -q nats; then
    P=$(( (RANDOM % 20000) + 30000 ))
    "$NATS" -js -a 127.0.0.1 -p "$P" -m $((P + 1)) -sd "$TMP/js" >/dev/null 2>&1 &
    NPID=$!
    # JetStream takes seconds to start on a loaded machine: up to 20 s
    for _ in $(seq 1 400); do curl -sf "127.0.0.1:$((P + 1))/healthz" >/dev/null && break; sleep 0.05; done
    URL="nats://127.0.0.1:$P"
    "$VIGIL" flows detect --model "$TMP/mlp.vmdl" "$F/flood.pcap" "$F/scan.pcap" --batch 16 \
        --alarms '' --scores "$TMP/offline.scores" 2>/dev/null
    offline=$(awk -F, 'NR>1 && $4!="normal"' "$TMP/offline.scores" | wc -l)
    expect_out "sensor publishes batches" "batches published to vigil.flows.s1" \
        "$VIGIL" flows extract --nats "$URL" --sensor s1 --batch 16 "$F/flood.pcap" "$F/scan.pcap"
    published=$(sed -n 's/.*: \([0-9]*\) batches published.*/\1/p' "$TMP/out")
    # Worker 1 takes 4 batches, holds them, and is killed before acknowledging any.
    "$VIGIL" flows worker --nats "$URL" --model "$TMP/mlp.vmdl" --name w1 --fetch 4 \
        --ack-wait 1s --hold 30s --processed "$TMP/p1" 2>"$TMP/w1.err" &
    W1=$!
    for _ in $(seq 1 200); do grep -qs holding "$TMP/w1.err" && break; sleep 0.05; done
    kill -9 "$W1"
    wait "$W1" 2>/dev/null
    if grep -q "holding 4 batches" "$TMP/w1.err"; then ok "worker 1 held 4 batches when killed"; else
        not_ok "worker 1 held batches" "$(cat "$TMP/w1.err")"; fi
    # Worker 2 of the same group: every batch, the four again after the ack wait.
    expect_exit 0 "worker 2 drains the stream" "$VIGIL" flows worker --nats "$URL" \
        --model "$TMP/mlp.vmdl" --name w2 --ack-wait 1s --idle-exit 3s --processed "$TMP/p2" \
        --alarms "$TMP/w2.jsonl"
    got=$(cat "$TMP/p1" "$TMP/p2" 2>/dev/null | awk '{print $1, $2}' | sort -u | wc -l)
    if [ -n "$published" ] && [ "$published" -gt 4 ] && [ "$got" = "$published" ]; then
        ok "all $published batches scored after the kill"; else
        not_ok "all batches scored" "published '$published', scored $got"; fi
    if grep -q "([1-9][0-9]* redelivered" "$TMP/err"; then ok "redelivered batches counted"; else
        not_ok "redelivered batches counted" "$(tail -2 "$TMP/err")"; fi
    online=$(sort -u -k1,2 "$TMP/p2" | awk '{s += $4} END {print s + 0}')
    if [ "$online" = "$offline" ]; then ok "worker flagged what offline detect flags ($online)"; else
        not_ok "same flagged flows online and offline" "online $online offline $offline"; fi
    if grep -q '"class":"dos"' "$TMP/w2.jsonl" && grep -q '"sensor":"w2"' "$TMP/w2.jsonl"; then
        ok "worker alarms"; else not_ok "worker alarms" "$(head -c 300 "$TMP/w2.jsonl")"; fi
    msgs=$(curl -s "127.0.0.1:$((P + 1))/jsz?streams=1" | tr -d ' \n' | grep -o '"name":"VIGIL_ALARMS"[^}]*}[^}]*"messages":[0-9]*' | grep -o '"messages":[0-9]*$')
    case "$msgs" in '"messages":'[1-9]*) ok "alarms published to VIGIL_ALARMS ($msgs)" ;;
        *) not_ok "alarms published to VIGIL_ALARMS" "$msgs" ;; esac
    kill "$NPID"
    wait "$NPID" 2>/dev/null
    expect_exit 1 "sensor without a server" "$VIGIL" flows extract --nats "$URL" "$F/scan.pcap"
else
    skip_test "nats-server or libnats absent"
fi
expect_exit 2 "worker needs --nats and --model" "$VIGIL" flows worker --model "$TMP/mlp.vmdl"
finish
