#!/usr/bin/env bash
# Flow extraction and classification side by side, in one run:
#
#   1. one large capture built from the shared ones (SYN floods, SYN-ACK
#      reflection, echo connections, TCP flag tests; laid end to end in time,
#      REPEAT times), read by vigil (flows extract, CSV to /dev/null), argus
#      (-r FILE -w -) and softflowd (-r FILE -n 127.0.0.1:PORT, NetFlow v5 to a
#      UDP port nobody reads); vigil writes its binary record batches (the
#      like of argus's records) and, second, CSV; wall and CPU (user + sys)
#      seconds per run;
#   2. vigil's in-process phases (bench_flows);
#   3. scikit-learn's MLPClassifier(64, 32).predict_proba batch rate on the
#      same shape (24 features, 5 classes, 1M rows), 1 and 2 BLAS threads,
#      and on NSL-KDD's shape (122 features);
#   4. NATS end to end: a sensor publishes the capture's flow records to
#      JetStream in 1024-record batches, then 1 worker, then 2 workers of one
#      group drain the stream; records/s from the first fetch to the last ack.
#
# Medians of RUNS (default 5). ONLY=classify runs parts 2 and 3 alone (bench_flows
# and scikit-learn, no capture, no peers, no NATS). Needs $VIGIL_DATA/pcaps; peers that are not
# installed are reported as absent. Results go to docs/perf.md ("## Flows").
set -u
cd "$(dirname "$0")/.."
V=${VIGIL_BIN:-$PWD/vigil}
B=${VIGIL_BUILD:-build}
DATA=${VIGIL_DATA:-../shared/data}
P=$DATA/pcaps
RUNS=${RUNS:-5}
REPEAT=${REPEAT:-4}
W=$(mktemp -d /tmp/vigil-bench-flows-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$W"' EXIT
export OPENBLAS_NUM_THREADS=1
[ -d "$P" ] || { echo "no $P: skipped"; exit 0; }
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "vigil $(git rev-parse --short HEAD 2>/dev/null), $(cc --version | head -1)"

if [ "${ONLY:-}" != classify ]; then
# ---- the capture ----
/usr/bin/python3 - "$P" "$W/big.pcap" "$REPEAT" <<'EOF'
import gzip, struct, sys
src, out, rep = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = ["stopddos/pkt.TCP.synflood.spoofed.pcap", "stopddos/pkt.TCP.DOMINATE.syn.ecn.cwr.pcapng",
         "stopddos/amp.TCP.reflection.SYNACK.pcap", "zeek-traces/Traces/echo-connections.pcap.gz",
         "esnet-curated-pcaps/tcp/control/two_way_all_flags.pcap"]
blobs = []
for f in files:
    op = gzip.open if f.endswith(".gz") else open
    d = op(src + "/" + f, "rb").read()
    assert struct.unpack("<I", d[:4])[0] == 0xA1B2C3D4, f
    recs, off = [], 24
    while off + 16 <= len(d):
        s, u, incl, orig = struct.unpack("<IIII", d[off:off + 16])
        recs.append((s * 1000000 + u, d[off + 16:off + 16 + incl], orig))
        off += 16 + incl
    blobs.append(recs)
n, t = 0, 1700000000 * 1000000
with open(out, "wb") as o:
    o.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for r in range(rep):
        for recs in blobs:
            base = recs[0][0]
            for ts, data, orig in recs:
                tt = t + ts - base
                o.write(struct.pack("<IIII", tt // 1000000, tt % 1000000, len(data), orig))
                o.write(data)
                n += 1
            t = tt + 5000000  # 5 s gap between captures
EOF
PKTS=$(/usr/bin/python3 -c "
import struct
d=open('$W/big.pcap','rb').read(); off=24; n=0
while off+16<=len(d):
    n+=1; off+=16+struct.unpack('<I',d[off+8:off+12])[0]
print(n)")
echo "capture: $PKTS packets, $(($(stat -c %s "$W/big.pcap") / 1000000)) MB ($REPEAT x the 5 captures)"
cat "$W/big.pcap" >/dev/null # page cache

# time_runs NAME CMD... : median wall and CPU seconds over RUNS runs -> "wall cpu"
time_runs() {
    local name=$1
    shift
    : >"$W/times"
    for _ in $(seq 1 "$RUNS"); do
        /usr/bin/time -f "%e %U %S" -o "$W/t1" "$@" >/dev/null 2>"$W/stderr.$name" || {
            echo "$name failed: $(tail -2 "$W/stderr.$name")" >&2
            return 1
        }
        awk '{print $1, $2 + $3}' "$W/t1" >>"$W/times"
    done
    local wall cpu
    wall=$(cut -d' ' -f1 "$W/times" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
    cpu=$(cut -d' ' -f2 "$W/times" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
    awk -v n="$name" -v w="$wall" -v c="$cpu" -v p="$PKTS" 'BEGIN {
        printf "%-34s %7.3f s wall %7.3f s CPU   %6.2f M packets/s wall  %6.2f M packets/CPU-s\n",
               n, w, c, p / (w > 0 ? w : 1e-9) / 1e6, p / (c > 0 ? c : 1e-9) / 1e6 }'
}

echo
echo "## flow extraction, $RUNS runs each, medians"
time_runs "vigil flows extract -f bin" "$V" flows extract -f bin "$W/big.pcap" -o /dev/null
time_runs "vigil flows extract (CSV)" "$V" flows extract "$W/big.pcap" -o /dev/null
if command -v argus >/dev/null; then
    time_runs "argus -r FILE -w -" argus -r "$W/big.pcap" -w -
else
    echo "argus: absent"
fi
if command -v softflowd >/dev/null; then
    # -c none: with a control socket, softflowd 1.1.0 reading a file may block in accept()
    # on a stale poll result (its poll is skipped in file mode).
    time_runs "softflowd -r FILE -n 127.0.0.1:PORT" softflowd -d -r "$W/big.pcap" -m 65536 \
        -n 127.0.0.1:$(( (RANDOM % 20000) + 30000 )) -p "$W/sfd.pid" -c none
else
    echo "softflowd: absent"
fi

fi

echo
echo "## vigil in process (bench_flows, medians of $RUNS)"
if [ -x "$B/bench/bench_flows" ]; then
    BENCH_REPS=$RUNS "$B/bench/bench_flows"
else
    echo "build it first: make bench"
fi

echo
echo "## scikit-learn MLPClassifier(64, 32).predict_proba, 1M rows, medians of $RUNS"
for th in 1 2; do
    OPENBLAS_NUM_THREADS=$th OMP_NUM_THREADS=$th /usr/bin/python3 - "$RUNS" "$th" <<'EOF' 2>/dev/null || echo "sklearn: unavailable"
import sys, time, warnings
import numpy as np
from sklearn.neural_network import MLPClassifier
warnings.filterwarnings("ignore")
runs, th = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(1)
for f in (24, 122):
    X = rng.random((20000, f), dtype=np.float32)
    y = rng.integers(0, 5, 20000)
    m = MLPClassifier((64, 32), max_iter=2, random_state=0).fit(X, y)
    Xt = rng.random((1 << 20, f), dtype=np.float32)
    m.predict_proba(Xt[:65536])
    w, c = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        m.predict_proba(Xt)
        w.append(time.perf_counter() - t0)
        c.append(time.process_time() - c0)
    w.sort(); c.sort()
    n = len(Xt)
    print("sklearn F=%-3d %s BLAS thread(s):   %6.2f M records/s wall  %6.2f M records/CPU-s"
          % (f, th, n / w[len(w) // 2] / 1e6, n / c[len(c) // 2] / 1e6))
EOF
done

[ "${ONLY:-}" = classify ] && exit 0
echo
echo "## NATS JetStream end to end (sensor -> stream -> workers), medians of $RUNS"
NATS=$(command -v nats-server || true)
if [ -z "$NATS" ] || ! "$V" version | grep -q nats; then
    echo "nats-server or libnats absent: skipped"
    exit 0
fi
# A model to score with: an MLP on flows of the captures (a few epochs are enough to time it).
"$V" flows extract "$P/stopddos/pkt.TCP.synflood.spoofed.pcap" -o "$W/t.csv" --label dos \
    --label-dst 10.10.10.10 --labels-out "$W/t.labels" 2>/dev/null
"$V" flows extract "$P/zeek-traces/Traces/ssh/ssh.pcap" -o "$W/t.csv" --label normal \
    --labels-out "$W/t.labels" --append 2>/dev/null
"$V" train -q -m mlp --epochs 3 --input-log 1e6 --train "$W/t.csv" --labels "$W/t.labels" -o "$W/m.vmdl"
PORT=$(( (RANDOM % 20000) + 30000 ))
"$NATS" -js -a 127.0.0.1 -p "$PORT" -m $((PORT + 1)) -sd "$W/js" >/dev/null 2>&1 &
NPID=$!
for _ in $(seq 1 100); do curl -s "127.0.0.1:$((PORT + 1))/healthz" >/dev/null && break; sleep 0.05; done
URL=nats://127.0.0.1:$PORT
med() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
for workers in 1 2; do
    : >"$W/rates.$workers"
    for run in $(seq 1 "$RUNS"); do
        # Fill the stream first, then start the workers together: the drain rate is
        # all records over the span from the first fetch to the last ack of any worker.
        t0=$(date +%s.%N)
        "$V" flows extract --nats "$URL" --sensor "s$workers-$run" --batch 1024 "$W/big.pcap" \
            2>"$W/sensor.err" || { echo "sensor failed: $(tail -1 "$W/sensor.err")"; break; }
        t1=$(date +%s.%N)
        records=$(sed -n 's/.* \([0-9]*\) flows in .*/\1/p' "$W/sensor.err")
        pids=()
        for k in $(seq 1 "$workers"); do
            "$V" flows worker --nats "$URL" --model "$W/m.vmdl" --name "w$k" --fetch 8 \
                --idle-exit 2s --alarms '' 2>"$W/w.$k.err" &
            pids+=($!)
        done
        wait "${pids[@]}"
        cat "$W"/w.*.err | sed -n 's/.* \([0-9]*\) records in .*first fetch \([0-9.]*\), last ack \([0-9.]*\)).*/\1 \2 \3/p' >"$W/spans"
        awk -v r="$records" -v a="$t0" -v b="$t1" '
            { n += $1; if (!f || $2 < f) f = $2; if ($3 > l) l = $3 }
            END { if (n != r) printf "MISSING %d of %d\n", r - n, r > "/dev/stderr";
                  printf "%f %f\n", r / (b - a), n / (l - f) }' "$W/spans" >>"$W/rates.$workers"
        rm -f "$W"/w.*.err
    done
    pub=$(cut -d' ' -f1 "$W/rates.$workers" | med)
    drain=$(cut -d' ' -f2 "$W/rates.$workers" | med)
    awk -v w="$workers" -v p="$pub" -v d="$drain" -v r="$records" 'BEGIN {
        printf "%d worker(s): the sensor publishes %.2f M records/s (capture to acked batches); the workers drain %.2f M records/s (%d records, 1024 per batch)\n",
               w, p / 1e6, d / 1e6, r }'
done
kill "$NPID"
wait "$NPID" 2>/dev/null
