#!/usr/bin/env bash
# Side by side in one run: bench_prep (the C chain, batch and stream) and the
# same transforms written in vectorized numpy on data of the same shape
# (100000 rows x 64 series, half counters with resets, 1 % missing, 1 s
# spacing with jitter): counters to increases with reset detection, gap
# filling of the first 3 missing steps, min-max scaling with clipping; then
# resampling to 10 s (bincount); then temporal features over 5 steps
# (sliding_window_view + nanmean/nanstd). numpy times fit + apply together
# (ranges are taken from the same data), so compare with C's fit + apply.
set -u
cd "$(dirname "$0")/.."
B=${VIGIL_BUILD:-build}/bench/bench_prep
ROWS=${ROWS:-100000}
SERIES=${SERIES:-64}
REPS=${REPS:-5}
[ -x "$B" ] || { echo "prep_vs_numpy: build $B first (make bench)"; exit 1; }
echo "-- C: $B"
nice "$B" --rows "$ROWS" --series "$SERIES" --reps "$REPS"
echo "-- numpy: /usr/bin/python3"
nice /usr/bin/python3 - "$ROWS" "$SERIES" "$REPS" <<'EOF'
import sys, time, warnings
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
N, F, R = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(42)
ts = 1700000000 * 10**9 + np.cumsum(10**9 + rng.integers(-500000, 500000, N))
x = np.empty((N, F), np.float32)
for j in range(F):
    if j % 2 == 0:
        inc = rng.integers(0, 1000, N).astype(np.float64)
        c = np.cumsum(inc)
        resets = np.flatnonzero(rng.integers(0, 5000, N) == 0)
        for r in resets:  # the counter restarts from 0
            c[r:] -= c[r]
        x[:, j] = c
    else:
        x[:, j] = 50 + 10 * rng.standard_normal(N)
x[rng.integers(0, 100, (N, F)) == 0] = np.nan
counter = np.arange(F) % 2 == 0


# Series-major (F, N) copies: numpy's accumulate and take are much faster
# along contiguous rows than down strided columns.
xt = np.ascontiguousarray(x.T)


def ffill_idx(valid):
    """Index of the last valid step at or before each step (-1 before the first)."""
    idx = np.where(valid, np.arange(valid.shape[1])[None, :], -1)
    return np.maximum.accumulate(idx, axis=1)


def deltas(v):
    valid = ~np.isnan(v)
    last = ffill_idx(valid)
    prev_idx = np.hstack([np.full((v.shape[0], 1), -1), last[:, :-1]])
    prev = np.take_along_axis(v, np.maximum(prev_idx, 0), axis=1)
    d = v - prev
    d = np.where(d < 0, v, d)                       # a decrease is a reset
    d[(prev_idx < 0) | ~valid] = np.nan
    return d


def fill(v, k):
    valid = ~np.isnan(v)
    last = ffill_idx(valid)
    run = np.arange(v.shape[1])[None, :] - last
    filled = np.take_along_axis(v, np.maximum(last, 0), axis=1)
    return np.where(valid, v, np.where((last >= 0) & (run <= k), filled, np.nan))


def scale(v):
    lo, hi = np.nanmin(v, axis=1)[:, None], np.nanmax(v, axis=1)[:, None]
    return np.clip((v - lo) / (hi - lo), 0, 1)


def rows_as_they_are():
    v = xt.astype(np.float64)
    v[counter] = deltas(v[counter])
    return scale(fill(v, 3)).astype(np.float32)


def resample(step=10 * 10**9):
    b = ts // step
    b = b - b[0]
    nb = b[-1] + 1
    v = xt.astype(np.float64)
    v[counter] = deltas(v[counter])
    out = np.empty((F, nb))
    for j in range(F):
        ok = ~np.isnan(v[j])
        s = np.bincount(b[ok], weights=v[j, ok], minlength=nb)
        n = np.bincount(b[ok], minlength=nb)
        out[j] = np.where(n == 0, np.nan, s if counter[j] else s / np.maximum(n, 1))
    return scale(fill(out, 3)).astype(np.float32)


def temporal(k=5):
    v = rows_as_they_are()
    lag = np.hstack([np.full((F, 1), np.nan, np.float32), v[:, :-1]])
    pad = np.hstack([np.full((F, k - 1), np.nan, np.float32), v])
    w = sliding_window_view(pad, k, axis=1)          # (F, N, k), a view
    return np.concatenate([v, lag, v - lag, np.nanmean(w, axis=2), np.nanstd(w, axis=2)], axis=0)


for name, fn in [("rows as they are", rows_as_they_are), ("resample 10 s", resample),
                 ("temporal k=5", temporal)]:
    fn()  # warm-up
    t = []
    for _ in range(R):
        t0 = time.perf_counter()
        out = fn()
        t.append(time.perf_counter() - t0)
    t.sort()
    m = t[len(t) // 2]
    print("%-22s fit+apply %7.3f s (%6.2f M values/s in)  -> %d x %d"
          % (name, m, N * F / m / 1e6, out.shape[1], out.shape[0]))
EOF
