#!/usr/bin/env bash
# Exposition parsing, side by side in one run on the same file: vigil's
# stream parser and exposition-to-frame reader (bench_prom) against the text
# parser of Debian's python3-prometheus-client
# (prometheus_client.parser.text_string_to_metric_families, consumed fully),
# both as the median of RUNS runs with the file already in memory. Prints
# both and the ratios.
#
#   bash bench/prom_vs_python.sh [FILE]        (RUNS=11 by default)
set -u
cd "$(dirname "$0")/.."
FILE=${1:-${VIGIL_DATA:-../shared/data}/prometheus-fixtures/node_exporter/collector/fixtures/e2e-output.txt}
RUNS=${RUNS:-11}
B=${VIGIL_BUILD:-build}
if [ ! -f "$FILE" ]; then
    echo "prom_vs_python: $FILE not found (skipped; set VIGIL_DATA)"
    exit 0
fi
[ -x "$B/bench/bench_prom" ] || make -s "$B/bench/bench_prom" || exit 1

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "cc: $(${CC:-cc} --version | head -1); flags: -O2 -g (make)"
echo "python: $(/usr/bin/python3 --version 2>&1), prometheus_client" \
     "$(dpkg-query -W -f='${Version}' python3-prometheus-client 2>/dev/null)"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+dirty')"

vig=$(nice "$B/bench/bench_prom" "$FILE" "$RUNS") || { echo "bench_prom failed"; exit 1; }
echo "$vig"
py=$(nice /usr/bin/python3 - "$FILE" "$RUNS" <<'PY'
import statistics
import sys
import time

from prometheus_client.parser import text_string_to_metric_families

path, runs = sys.argv[1], int(sys.argv[2])
with open(path) as f:
    text = f.read()
lines = text.count("\n") + (0 if text.endswith("\n") else 1)
size = len(text.encode())


def once():
    return sum(len(fam.samples) for fam in text_string_to_metric_families(text))


samples = once()  # validation and warm-up
times = []
for _ in range(runs):
    t0 = time.perf_counter()
    once()
    times.append(time.perf_counter() - t0)
m = statistics.median(times)
print(f"python {lines / m:.0f} lines/s {size / m / 1e6:.2f} MB/s {m * 1e6:.1f} us/pass "
      f"({samples} samples)")
PY
) || { echo "python parser failed"; exit 1; }
echo "$py"
printf "%s\n%s\n" "$vig" "$py" | awk '
    $1 == "parse" { p = $2 } $1 == "frame" { f = $2 } $1 == "frame_scrapes" { s = $2 }
    $1 == "python" { y = $2 }
    END {
        if (y > 0) {
            printf "ratio parse/python %.1fx, frame/python %.1fx, frame_scrapes/python %.1fx (lines/s)\n",
                   p / y, f / y, s / y
        }
    }'
