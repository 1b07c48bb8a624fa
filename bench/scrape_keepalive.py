#!/usr/bin/python3
"""Scrape /metrics every 100 ms over ONE kept-alive HTTP/1.1 connection per
target, as Prometheus does (prometheus/common keeps idle scrape connections
for 5 minutes), and measure the targets' CPU over the window.

Used by bench/collect_vs_node_exporter.sh with SCRAPER=keepalive:

  scrape_keepalive.py SECS OUTDIR NAME:SCRAPE:PID:URL [...]

A target with SCRAPE 0 is measured but not scraped in the window. The
script warms up for one second (10 scrapes), writes one body per target to
OUTDIR/NAME.prom, then scrapes every 100 ms for SECS seconds and prints
`NAME cpu_ns scrapes connections gzipped` per target and `elapsed_ns`. connections
counts the distinct client ports seen: 1 when the server kept the connection.
With SCRAPE_GZIP=1 in the environment every request carries `Accept-Encoding: gzip`,
as Prometheus's do by default (scrape_config enable_compression: true); a
target may answer compressed or not.
"""
import glob
import gzip
import http.client
import os
import sys
import time
import urllib.parse


HEADERS = {"Accept-Encoding": "gzip"} if os.environ.get("SCRAPE_GZIP") == "1" else {}


def cpu_ns(pid):
    total = 0
    for f in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(f) as fh:
                total += int(fh.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total


class Target:
    def __init__(self, spec):
        self.name, scrape, pid, url = spec.split(":", 3)
        self.in_window = scrape == "1"
        self.pid = int(pid)
        self.url = urllib.parse.urlsplit(url)
        self.ports = set()
        self.scrapes = 0
        self.gzipped = False
        self.conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=5)

    def scrape(self):
        self.conn.request("GET", self.url.path or "/", headers=HEADERS)
        resp = self.conn.getresponse()
        body = resp.read()
        if resp.getheader("Content-Encoding") == "gzip":
            self.gzipped = True
            body = gzip.decompress(body)
        if resp.status != 200:
            raise SystemExit(f"{self.name}: HTTP {resp.status}")
        # http.client reconnects by itself when the server closed the
        # connection; the local port tells.
        if self.conn.sock is not None:
            self.ports.add(self.conn.sock.getsockname()[1])
        else:
            self.ports.add(None)  # closed after this response (Connection: close)
        self.scrapes += 1
        return body


def main():
    secs = float(sys.argv[1])
    outdir = sys.argv[2]
    targets = [Target(s) for s in sys.argv[3:]]
    live = [t for t in targets if t.in_window]
    for _ in range(10):
        for t in targets:
            t.scrape()
        time.sleep(0.1)
    for t in targets:
        body = t.scrape()
        with open(f"{outdir}/{t.name}.prom", "wb") as fh:
            fh.write(body)
        t.ports.clear()
        t.scrapes = 0
    c0 = {t.name: cpu_ns(t.pid) for t in targets}
    t0 = time.monotonic_ns()
    end = t0 + int(secs * 1e9)
    nxt = t0
    while time.monotonic_ns() < end:
        for t in live:
            t.scrape()
        nxt += 100_000_000
        d = nxt - time.monotonic_ns()
        if d > 0:
            time.sleep(d / 1e9)
    c1 = {t.name: cpu_ns(t.pid) for t in targets}
    t1 = time.monotonic_ns()
    for t in targets:
        print(t.name, c1[t.name] - c0[t.name], t.scrapes, len(t.ports), int(t.gzipped))
    print("elapsed_ns", t1 - t0)


if __name__ == "__main__":
    main()
