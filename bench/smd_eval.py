#!/usr/bin/python3
"""Scores SMD detections point-wise, and runs the scikit-learn PCA peer.

For every machine and every detector, reads vigil's score CSV (columns
score, anomaly, ...) and the test labels, and prints:

  best-F1   the best point-wise F1 over all thresholds of the score
  AUPRC     average precision (sklearn.metrics.average_precision_score)
  F1@thr    F1 of the detector's own deployable decision: vigil's `anomaly`
            column (score > 1, i.e. MSE above the training quantile), and for
            the sklearn peer the 99th percentile of its training error
  PA-F1     best F1 after point-adjust (a labelled second number only)

The peer, run in the same process: sklearn PCA(n_components=0.95) fitted on
the raw training rows, score = squared reconstruction error summed over the
38 metrics (inverse_transform), the published "PCA" baseline.

With --errors DIR it also computes the root-cause HitRate@100% and @150%
(OmniAnomaly's definition) of each detector's per-feature squared errors
(`vigil explain --errors`) against the interpretation labels.

    /usr/bin/python3 bench/smd_eval.py --data ../shared/data/smd --out OUTDIR \
        --detectors pca,kmeans,lstm-ae
"""
import argparse
import gzip
import os
import sys

import numpy as np
from sklearn.decomposition import PCA
from sklearn.metrics import average_precision_score, f1_score, precision_recall_curve

MACHINES = ["machine-1-6", "machine-1-7", "machine-2-1", "machine-2-2",
            "machine-2-7", "machine-2-8", "machine-3-3", "machine-3-4"]


def load_matrix(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)


def load_scores(path):
    """vigil score CSV: returns (score, anomaly) with NaN for unscored rows."""
    with open(path) as f:
        head = f.readline().strip().split(",")
        js, ja = head.index("score"), head.index("anomaly")
        score, anom = [], []
        for line in f:
            v = line.rstrip("\n").split(",")
            score.append(float(v[js]) if v[js] else np.nan)
            anom.append(float(v[ja]) if v[ja] else np.nan)
    return np.array(score), np.array(anom)


def best_f1(y, s):
    p, r, _ = precision_recall_curve(y, s)
    f = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-300), 0)
    return float(f.max())


def point_adjust(y, s):
    """Every point of a true segment gets the segment's highest score."""
    s = s.copy()
    i, n = 0, len(y)
    while i < n:
        if y[i]:
            j = i
            while j < n and y[j]:
                j += 1
            s[i:j] = s[i:j].max()
            i = j
        else:
            i += 1
    return s


def metrics(y, score, decision):
    s = np.where(np.isnan(score), np.nanmin(score), score)
    d = np.where(np.isnan(decision), 0, decision) > 0.5
    return {
        "best-F1": best_f1(y, s),
        "AUPRC": float(average_precision_score(y, s)),
        "F1@thr": float(f1_score(y, d, zero_division=0)),
        "PA-F1": best_f1(y, point_adjust(y, s)),
    }


def sklearn_pca(train, test):
    pca = PCA(n_components=0.95, svd_solver="full").fit(train)
    err = lambda x: ((x - pca.inverse_transform(pca.transform(x))) ** 2).sum(axis=1)
    tr, te = err(train), err(test)
    return te, (te > np.quantile(tr, 0.99)).astype(float)


def read_interp(path):
    segs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rng, dims = line.split(":")
            a, b = rng.split("-")
            segs.append((int(a), int(b), [int(d) - 1 for d in dims.split(",")]))
    return segs


def load_errors(path):
    """`vigil explain --errors` CSV: row, then one column per feature name (col1..col38)."""
    with open(path) as f:
        head = f.readline().strip().split(",")
        cols = [int(h[3:]) - 1 for h in head[1:]]  # SMD columns are named col<k>, 1-based
        rows, vals = [], []
        for line in f:
            v = line.rstrip("\n").split(",")
            rows.append(int(v[0]))
            vals.append([float(x) if x else np.nan for x in v[1:]])
    return np.array(rows), np.array(vals), cols


def hitrate(errors_path, interp_path, decision, n_rows):
    """OmniAnomaly's HitRate@P%: mean over anomalous points t (of the labelled
    segments) of |top floor(P% |GT|) features by SE(i,t) ∩ GT| / |GT|.
    Features vigil dropped (constant in training) rank last. Returns
    (all points @100, @150, detected points @100, @150, n points)."""
    rows, se, cols = load_errors(errors_path)
    full = np.full((n_rows, 38), -1.0)
    full[rows[:, None], np.array(cols)[None, :]] = np.nan_to_num(se, nan=-1.0)
    acc = {100: [], 150: []}
    det = {100: [], 150: []}
    for a, b, gt in read_interp(interp_path):
        gt = set(gt)
        for t in range(a, min(b, n_rows - 1) + 1):
            rank = np.argsort(-full[t], kind="stable")
            for p in (100, 150):
                k = int(np.floor(p / 100 * len(gt)))
                h = len(gt.intersection(rank[:k].tolist())) / len(gt)
                acc[p].append(h)
                if decision[t] > 0.5:
                    det[p].append(h)
    m = lambda v: float(np.mean(v)) if v else float("nan")
    return m(acc[100]), m(acc[150]), m(det[100]), m(det[150]), len(acc[100])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True, help="directory with <detector>/<machine>.csv")
    ap.add_argument("--detectors", default="pca,kmeans,lstm-ae")
    ap.add_argument("--machines", default=",".join(MACHINES))
    ap.add_argument("--no-peer", action="store_true")
    a = ap.parse_args()
    dets = [d for d in a.detectors.split(",") if d]
    machines = [m for m in a.machines.split(",") if m]
    names = dets + ([] if a.no_peer else ["sklearn-pca"])
    res = {d: {} for d in names}
    hits = {d: {} for d in dets}
    for m in machines:
        y = np.loadtxt(os.path.join(a.data, "test_label", m + ".txt"), dtype=int)
        for d in dets:
            path = os.path.join(a.out, d, m + ".csv")
            if not os.path.exists(path):
                continue
            s, dec = load_scores(path)
            res[d][m] = metrics(y, s, dec)
            ep = os.path.join(a.out, d, m + ".errors.csv")
            ip = os.path.join(a.data, "interpretation_label", m + ".txt")
            if os.path.exists(ep) and os.path.exists(ip):
                hits[d][m] = hitrate(ep, ip, np.nan_to_num(dec), len(y))
        if not a.no_peer:
            tr = load_matrix(os.path.join(a.data, "train", m + ".txt.gz"))
            te = load_matrix(os.path.join(a.data, "test", m + ".txt.gz"))
            s, dec = sklearn_pca(tr, te)
            res["sklearn-pca"][m] = metrics(y, s, dec)
    keys = ["best-F1", "AUPRC", "F1@thr", "PA-F1"]
    print("| machine | detector | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for m in machines:
        for d in names:
            if m in res[d]:
                r = res[d][m]
                print(f"| {m} | {d} | " + " | ".join(f"{r[k]:.3f}" for k in keys) + " |")
    print()
    print("| detector | machines | " + " | ".join("mean " + k for k in keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for d in names:
        if res[d]:
            v = list(res[d].values())
            print(f"| {d} | {len(v)} | " +
                  " | ".join(f"{np.mean([r[k] for r in v]):.3f}" for k in keys) + " |")
    if any(hits[d] for d in dets):
        print()
        print("| detector | machines | HitRate@100% | HitRate@150% | "
              "HitRate@100% (detected) | HitRate@150% (detected) |")
        print("|---|---|---|---|---|---|")
        for d in dets:
            if hits[d]:
                v = np.array([h[:4] for h in hits[d].values()])
                mv = np.nanmean(v, axis=0)
                print(f"| {d} | {len(v)} | {mv[0]:.3f} | {mv[1]:.3f} | {mv[2]:.3f} | {mv[3]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
