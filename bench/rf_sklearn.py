#!/usr/bin/python3
"""Peer side of bench/rf_vs_sklearn.sh: Debian's scikit-learn RandomForestClassifier.

  rf_sklearn.py gen DIR            writes the benchmark datasets as raw files
  rf_sklearn.py run DIR NAME K R   trains and times sklearn on DIR/NAME, K trees, R runs
  rf_sklearn.py quality DIR NAME K S   test figures of S seeds (medians), no timing

Datasets (raw little-endian files read by bench_rf.c as well, so both sides
see the same numbers): NAME.xtr (u32 n, u32 f, n*f float32), NAME.ytr (u32 n,
n int32), and the same for .xte/.yte.
  itu      ITU PS-015 02_b train/test (6 classes) from $VIGIL_DATA
  syn10k   make_classification 10,240 x 64 (16 informative, 2 classes) + 10,240 test rows
  syn100k  make_classification 100,000 x 152 (24 informative, 2 classes) + 20,000 test rows

`run` prints one JSON object: fit seconds (median of R runs) with 1 and 2
jobs (wall clock, and process CPU time for 1 job), batch predict_proba time
per row (wall and CPU), single-row predict_proba
latency (median and p99 of 2,000 calls), binary ROC AUC and average
precision (anomaly = class != 0, score 1 - p_0) and macro-F1 on the test rows.
"""
import json
import os
import statistics
import struct
import sys
import time

import numpy as np


def write(path, a):
    a = np.ascontiguousarray(a)
    with open(path, "wb") as f:
        if a.ndim == 2:
            f.write(struct.pack("<II", a.shape[0], a.shape[1]))
        else:
            f.write(struct.pack("<II", a.shape[0], 1))
        f.write(a.tobytes())


def read(path, dtype):
    with open(path, "rb") as f:
        n, k = struct.unpack("<II", f.read(8))
        a = np.frombuffer(f.read(), dtype=dtype)
    return a.reshape(n, k) if k > 1 else a


def gen(d):
    from sklearn.datasets import make_classification

    os.makedirs(d, exist_ok=True)
    root = os.environ.get("VIGIL_DATA", os.path.join(os.path.dirname(__file__), "../../shared/data"))
    itu = os.path.join(root, "itu-5gc-nfv-failure/ap_data")
    if os.path.exists(os.path.join(itu, "02_b_train_data.txt")):
        for part, tag in (("train", "tr"), ("test", "te")):
            x = np.loadtxt(os.path.join(itu, f"02_b_{part}_data.txt"), dtype=np.float64)
            y = np.loadtxt(os.path.join(itu, f"02_b_{part}_label.txt"), dtype=np.int32)
            write(os.path.join(d, f"itu.x{tag}"), x.astype(np.float32))
            write(os.path.join(d, f"itu.y{tag}"), y.astype(np.int32))
    for name, n, f, inf, nte in (("syn10k", 10240, 64, 16, 10240), ("syn100k", 100000, 152, 24, 20000)):
        x, y = make_classification(n_samples=n + nte, n_features=f, n_informative=inf,
                                   n_redundant=4, flip_y=0.02, class_sep=0.8, random_state=1)
        x = x.astype(np.float32)
        write(os.path.join(d, f"{name}.xtr"), x[:n])
        write(os.path.join(d, f"{name}.ytr"), y[:n].astype(np.int32))
        write(os.path.join(d, f"{name}.xte"), x[n:])
        write(os.path.join(d, f"{name}.yte"), y[n:].astype(np.int32))


def run(d, name, trees, runs):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
    import sklearn

    xtr, ytr = read(os.path.join(d, name + ".xtr"), np.float32), read(os.path.join(d, name + ".ytr"), np.int32)
    xte, yte = read(os.path.join(d, name + ".xte"), np.float32), read(os.path.join(d, name + ".yte"), np.int32)
    out = {"impl": "sklearn " + sklearn.__version__, "data": name, "n": int(xtr.shape[0]),
           "f": int(xtr.shape[1]), "trees": trees, "runs": runs}
    # The same settings as vigil's defaults: Gini, sqrt features, bootstrap, grown to purity.
    kw = dict(n_estimators=trees, criterion="gini", max_features="sqrt", bootstrap=True,
              min_samples_leaf=1, random_state=1)
    for jobs in (1, 2):
        t, tc = [], []
        for r in range(runs):
            m = RandomForestClassifier(n_jobs=jobs, **kw)
            c0, t0 = time.process_time(), time.perf_counter()
            m.fit(xtr, ytr)
            t.append(time.perf_counter() - t0)
            tc.append(time.process_time() - c0)
        out[f"fit_s_{jobs}t"] = statistics.median(t)
        if jobs == 1:
            out["fit_cpu_s_1t"] = statistics.median(tc)
    m = RandomForestClassifier(n_jobs=1, **kw).fit(xtr, ytr)
    t, tc = [], []
    for r in range(max(runs, 3)):
        c0, t0 = time.process_time(), time.perf_counter()
        p = m.predict_proba(xte)
        t.append(time.perf_counter() - t0)
        tc.append(time.process_time() - c0)
    out["batch_us_per_row"] = statistics.median(t) / len(xte) * 1e6
    out["batch_cpu_us_per_row"] = statistics.median(tc) / len(xte) * 1e6
    m.set_params(n_jobs=2)  # the same forest, predict_proba over 2 joblib threads (wall)
    t = []
    for r in range(max(runs, 3)):
        t0 = time.perf_counter()
        m.predict_proba(xte)
        t.append(time.perf_counter() - t0)
    out["batch_us_per_row_2t"] = statistics.median(t) / len(xte) * 1e6
    m.set_params(n_jobs=1)
    lat = []
    for i in range(2000):
        row = xte[i % len(xte): i % len(xte) + 1]
        t0 = time.perf_counter()
        m.predict_proba(row)
        lat.append(time.perf_counter() - t0)
    lat.sort()
    out["single_us_median"] = lat[len(lat) // 2] * 1e6
    out["single_us_p99"] = lat[int(len(lat) * 0.99)] * 1e6
    # Columns of predict_proba follow m.classes_; class 0 is normal.
    p0 = p[:, list(m.classes_).index(0)]
    pos = (yte != 0).astype(int)
    out["roc_auc"] = roc_auc_score(pos, 1 - p0)
    out["ap"] = average_precision_score(pos, 1 - p0)
    out["macro_f1"] = f1_score(yte, m.classes_[p.argmax(1)], average="macro")
    print(json.dumps(out))


def quality(d, name, trees, seeds):
    """Test figures of `seeds` forests (random_state 1..seeds): medians, no timing."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    xtr, ytr = read(os.path.join(d, name + ".xtr"), np.float32), read(os.path.join(d, name + ".ytr"), np.int32)
    xte, yte = read(os.path.join(d, name + ".xte"), np.float32), read(os.path.join(d, name + ".yte"), np.int32)
    roc, ap, f1 = [], [], []
    for s in range(1, seeds + 1):
        m = RandomForestClassifier(n_estimators=trees, random_state=s, n_jobs=2).fit(xtr, ytr)
        p = m.predict_proba(xte)
        p0 = p[:, list(m.classes_).index(0)]
        roc.append(roc_auc_score(yte != 0, 1 - p0))
        ap.append(average_precision_score(yte != 0, 1 - p0))
        f1.append(f1_score(yte, m.classes_[p.argmax(1)], average="macro"))
    print(json.dumps({"impl": "sklearn", "seeds": seeds, "ap": [round(a, 4) for a in ap],
                      "roc_auc_median": statistics.median(roc), "ap_median": statistics.median(ap),
                      "macro_f1_median": statistics.median(f1)}))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "gen":
        gen(sys.argv[2])
    elif len(sys.argv) == 6 and sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif len(sys.argv) == 6 and sys.argv[1] == "quality":
        quality(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(__doc__)
