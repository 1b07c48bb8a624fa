#!/usr/bin/python3
"""Does smoothing the forest's anomaly score over time help on ITU PS-015 02_b?

Reads a `vigil score` CSV (columns p_0..p_5) and the test labels, and prints
the binary ROC AUC and average precision of the anomaly score 1 - p_0 as it
is, then of its causal mean and max over the last k rows (k = 2..5: a live
detector can only look back). For docs/results.md (Random Forest, third
attempt); the scores come from the configuration kept there:

  D=$VIGIL_DATA/itu-5gc-nfv-failure/ap_data
  vigil train -m rf --trees 100 --temporal 5 --lags 6 --min-samples-leaf 3 \\
      --train $D/02_b_train_data.txt --labels $D/02_b_train_label.txt -o itu.vmdl
  vigil score itu.vmdl $D/02_b_test_data.txt -o itu.csv
  bench/rf_itu_smooth.py itu.csv $D/02_b_test_label.txt
"""
import sys

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: rf_itu_smooth.py SCORES.csv LABELS")
    p = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1, usecols=(0,))
    y = np.loadtxt(sys.argv[2])
    y = (y[:, -1] if y.ndim > 1 else y) != 0
    if len(p) != len(y):
        sys.exit(f"{sys.argv[1]}: {len(p)} rows, {sys.argv[2]}: {len(y)} labels")
    s = 1.0 - p
    print(f"{'score':<12} {'ROC AUC':>8} {'AP':>8}")
    print(f"{'as is':<12} {roc_auc_score(y, s):8.4f} {average_precision_score(y, s):8.4f}")
    for k in range(2, 6):
        win = np.lib.stride_tricks.sliding_window_view(np.r_[np.full(k - 1, s[0]), s], k)
        for name, v in (("mean", win.mean(axis=1)), ("max", win.max(axis=1))):
            print(f"{name + ' ' + str(k):<12} {roc_auc_score(y, v):8.4f} "
                  f"{average_precision_score(y, v):8.4f}")


if __name__ == "__main__":
    main()
