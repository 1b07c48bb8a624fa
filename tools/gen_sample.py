#!/usr/bin/python3
"""Writes tests/data/sample/host.prom: a small synthetic recording of one host
and two containers, as a file of timestamped Prometheus scrapes (the layout a
scraper appending to a file produces). 40 scrapes 15 s apart with scrapes
30-32 missing, a network counter reset at scrape 25 (exporter restart), a
constant series (node_boot_time_seconds) and a CPU burst on container "web"
from scrape 34 on. Made up from scratch; no dataset is copied.

    /usr/bin/python3 tools/gen_sample.py > tests/data/sample/host.prom
"""
import random

rng = random.Random(2024)
T0 = 1700000000000  # ms since the epoch: 2023-11-14T22:13:20Z
STEP = 15000
MISSING = {30, 31, 32}

FAMILIES = [
    ("node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode."),
    ("node_memory_MemAvailable_bytes", "gauge", "Memory information field MemAvailable_bytes."),
    ("node_load1", "gauge", "1m load average."),
    ("node_network_receive_bytes_total", "counter", "Network device statistic receive_bytes."),
    ("node_network_transmit_bytes_total", "counter", "Network device statistic transmit_bytes."),
    ("node_disk_io_time_seconds_total", "counter", "Total seconds spent doing I/Os."),
    ("node_filesystem_avail_bytes", "gauge", "Filesystem space available to non-root users in bytes."),
    ("node_boot_time_seconds", "gauge", "Node boot time, in unixtime."),
    ("container_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed in seconds."),
    ("container_memory_working_set_bytes", "gauge", "Current working set in bytes."),
    ("container_network_receive_bytes_total", "counter", "Cumulative count of bytes received."),
]

state = {
    "cpu_user": 1000.0, "cpu_system": 400.0, "cpu_idle": 50000.0,
    "rx": 8.0e8, "tx": 3.0e8, "io": 120.0, "web_cpu": 300.0, "db_cpu": 800.0, "web_rx": 2.0e7,
}


def scrape(i, ts, first):
    s = state
    burst = i >= 34
    s["cpu_user"] += 15 * (0.20 + 0.05 * rng.random() + (0.5 if burst else 0))
    s["cpu_system"] += 15 * (0.05 + 0.02 * rng.random())
    s["cpu_idle"] += 15 * (0.70 - (0.5 if burst else 0) + 0.05 * rng.random())
    s["rx"] += 15 * (40000 + 8000 * rng.random())
    s["tx"] += 15 * (12000 + 3000 * rng.random())
    if i == 25:
        s["rx"], s["tx"] = 500000.0, 200000.0  # the exporter restarted
    s["io"] += 15 * (0.02 + 0.01 * rng.random())
    s["web_cpu"] += 15 * (0.10 + 0.03 * rng.random() + (0.9 if burst else 0))
    s["db_cpu"] += 15 * (0.25 + 0.05 * rng.random())
    s["web_rx"] += 15 * (9000 + 2000 * rng.random())
    mem = 6.2e9 - 1e8 * rng.random() - (4e8 if burst else 0)
    rows = [
        ('node_cpu_seconds_total{cpu="0",mode="idle"}', s["cpu_idle"]),
        ('node_cpu_seconds_total{cpu="0",mode="system"}', s["cpu_system"]),
        ('node_cpu_seconds_total{cpu="0",mode="user"}', s["cpu_user"]),
        ("node_memory_MemAvailable_bytes", mem),
        ("node_load1", 0.4 + 0.3 * rng.random() + (1.5 if burst else 0)),
        ('node_network_receive_bytes_total{device="eth0"}', s["rx"]),
        ('node_network_transmit_bytes_total{device="eth0"}', s["tx"]),
        ('node_disk_io_time_seconds_total{device="sda"}', s["io"]),
        ('node_filesystem_avail_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"}',
         4.1e10 - 1e5 * i),
        ("node_boot_time_seconds", 1699990000),
        ('container_cpu_usage_seconds_total{cpu="total",name="web"}', s["web_cpu"]),
        ('container_cpu_usage_seconds_total{cpu="total",name="db"}', s["db_cpu"]),
        ('container_memory_working_set_bytes{name="web"}', 2.0e8 + 1e7 * rng.random()),
        ('container_memory_working_set_bytes{name="db"}', 9.0e8 + 2e7 * rng.random()),
        ('container_network_receive_bytes_total{interface="eth0",name="web"}', s["web_rx"]),
    ]
    by_family = {}
    for key, v in rows:
        by_family.setdefault(key.split("{")[0], []).append((key, v))
    out = []
    for name, typ, help_ in FAMILIES:
        if first:  # HELP once, to keep the file small; TYPE in every scrape
            out.append("# HELP %s %s" % (name, help_))
        out.append("# TYPE %s %s" % (name, typ))
        for key, v in by_family[name]:
            out.append("%s %s %d" % (key, ("%.10g" % v), ts))
    return out


lines = []
for i in range(40):
    ts = T0 + i * STEP
    out = scrape(i, ts, i == 0)  # advance the state even for a scrape that is lost
    if i not in MISSING:
        lines.extend(out)
print("\n".join(lines))
