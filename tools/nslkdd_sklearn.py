#!/usr/bin/python3
"""scikit-learn's MLPClassifier on the files tools/nslkdd_eval.sh converted, as the peer
figure of the same run: the same 122 columns (log(1 + x), one-hot), min-max scaled on the
training rows and clipped to [-1, 2] as vigil's preprocessing does, hidden (64, 32),
scikit-learn's defaults otherwise (Adam 1e-3, batch 200, up to 200 epochs, no class weights).

    /usr/bin/python3 tools/nslkdd_sklearn.py OUT_DIR SEEDS

Prints one line per seed and test file (accuracy, recall of classes 0-4) and the means.
"""
import sys
import warnings

import numpy as np
from sklearn.neural_network import MLPClassifier

warnings.filterwarnings("ignore")
out, seeds = sys.argv[1], int(sys.argv[2])


def load(name):
    x = np.loadtxt(f"{out}/{name}.csv", delimiter=",", skiprows=1, dtype=np.float32)
    y = np.loadtxt(f"{out}/{name}.labels", dtype=np.int64)
    return x, y


xtr, ytr = load("train")
lo, hi = xtr.min(axis=0), xtr.max(axis=0)
span = np.where(hi > lo, hi - lo, 1.0)


def scale(x):
    return np.clip((x - lo) / span, -1.0, 2.0)


tests = {t: load(t) for t in ("KDDTest+", "KDDTest-21")}
res = {t: [] for t in tests}
for seed in range(1, seeds + 1):
    m = MLPClassifier((64, 32), random_state=seed).fit(scale(xtr), ytr)
    for t, (x, y) in tests.items():
        p = m.predict(scale(x))
        rec = [float(np.mean(p[y == c] == c)) if np.any(y == c) else 0.0 for c in range(5)]
        res[t].append([float(np.mean(p == y))] + rec)
        print(f"sklearn seed {seed} {t}: accuracy {res[t][-1][0]:.4f} recall "
              + " ".join(f"{r:.3f}" for r in rec))
for t, r in res.items():
    a = np.array(r)
    print(f"| sklearn MLPClassifier(64, 32), {t} | {a[:, 0].mean():.4f} ({a[:, 0].min():.4f}-"
          f"{a[:, 0].max():.4f}) | " + " | ".join(f"{v:.3f}" for v in a[:, 1:].mean(axis=0)) + " |")
