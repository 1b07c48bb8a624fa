#!/usr/bin/python3
"""The peer of bench_lstm_ae: the same LSTM autoencoder in PyTorch.

Same data (a headerless CSV, gzip or plain), the same windows (every start,
stride 1), the same architecture (LSTM(64) -> dropout 0.2 -> LSTM(32), latent
repeated over the window, LSTM(32) -> dropout -> LSTM(64) -> dense to F),
Adam lr 1e-3, batch 64, MSE, shuffled windows, PyTorch's default
initialisation (vigil uses the same distributions). Prints the loss and time
of every epoch, batch scoring time per window and the latency of scoring one
window, in the same format as bench_lstm_ae.

    /usr/bin/python3 bench/ae_vs_torch.py DATA.gz --epochs 3 --threads 1
"""
import argparse
import gzip
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn


class AE(nn.Module):
    def __init__(self, f, t, h1=64, h2=32, p=0.2):
        super().__init__()
        self.t = t
        self.e1 = nn.LSTM(f, h1, batch_first=True)
        self.drop1 = nn.Dropout(p)
        self.e2 = nn.LSTM(h1, h2, batch_first=True)
        self.d1 = nn.LSTM(h2, h2, batch_first=True)
        self.drop2 = nn.Dropout(p)
        self.d2 = nn.LSTM(h2, h1, batch_first=True)
        self.out = nn.Linear(h1, f)

    def forward(self, x):
        h, _ = self.e1(x)
        h, _ = self.e2(self.drop1(h))
        z = h[:, -1, :].unsqueeze(1).repeat(1, self.t, 1)
        h, _ = self.d1(z)
        h, _ = self.d2(self.drop2(h))
        return self.out(h)


def load(path, max_rows):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        rows = []
        for line in f:
            line = line.strip()
            if not line:
                continue
            rows.append([float(v) for v in line.split(",")])
            if max_rows and len(rows) >= max_rows:
                break
    return np.asarray(rows, dtype=np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--window", type=int, default=30)
    ap.add_argument("--rows", type=int, default=0)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--denormals", action="store_true",
                    help="keep denormal floats (default: flush them to zero, torch's faster setting)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(not a.denormals)
    torch.manual_seed(a.seed)
    x = load(a.data, a.rows)
    n, f = x.shape
    t = a.window
    nw = n - t + 1
    win = np.lib.stride_tricks.sliding_window_view(x, (t, f))[:, 0]  # (nw, T, F)
    win = torch.from_numpy(np.ascontiguousarray(win))
    print(f"data {a.data}: {n} rows x {f} features, window {t}, batch {a.batch}, "
          f"threads {a.threads} (torch {torch.__version__})")
    model = AE(f, t)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = nn.MSELoss()
    secs, losses = [], []
    for ep in range(a.epochs):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(nw)
        total = 0.0
        for k in range(0, nw, a.batch):
            xb = win[perm[k:k + a.batch]]
            opt.zero_grad()
            loss = lossf(model(xb), xb)
            loss.backward()
            opt.step()
            total += loss.item() * xb.shape[0]
        secs.append(time.perf_counter() - t0)
        losses.append(total / nw)
        print(f"epoch {ep + 1} loss {losses[-1]:.6f} time {secs[-1]:.3f} s", flush=True)
    med = statistics.median(secs)
    print(f"train: median {med:.3f} s/epoch, {med / nw * 1e6:.1f} us/window, "
          f"final loss {losses[-1]:.6f}")
    model.eval()
    with torch.no_grad():
        t0 = time.perf_counter()
        for k in range(0, nw, 1024):
            xb = win[k:k + 1024]
            ((model(xb)[:, -1, :] - xb[:, -1, :]) ** 2).mean(dim=1)
        s = time.perf_counter() - t0
        print(f"score batch: {s:.3f} s for {nw} windows, {s / nw * 1e6:.2f} us/window")
        one = win[:1]
        for _ in range(20):
            model(one)
        lat = []
        for r in range(a.reps):
            xb = win[(r * 131) % nw:(r * 131) % nw + 1]
            t0 = time.perf_counter()
            ((model(xb)[:, -1, :] - xb[:, -1, :]) ** 2).mean(dim=1)
            lat.append((time.perf_counter() - t0) * 1e6)
        lat.sort()
        print(f"score one window: median {lat[len(lat) // 2]:.1f} us, "
              f"p90 {lat[len(lat) * 9 // 10]:.1f} us ({a.reps} calls)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
