#!/usr/bin/python3
"""Writes tests/data/syrroca/cadvisor_day.csv, a small file in the SYRROCA layout.

The SYRROCA data themselves are not public. Its code (Orange-OpenSource/
Autoencoder-Based-Anomaly-Detection, pre_processing.py) reads them with
pandas.read_csv(sep=';', header=0): a ';'-separated file whose first column is
an unnamed row index (pandas' to_csv writes one; the code drops 'Unnamed'
columns), then a 'timestamp' column, then one column per Prometheus series
named like container_memory_mapped_file{container="",...,namespace="openims",...}.
pandas quotes such names the way Python's csv module does with QUOTE_MINIMAL
(the field holds '"', so it is quoted and its quotes doubled). Values are
invented: counters grow, gauges wander, one cell is empty (missing).

Run: /usr/bin/python3 tools/gen_syrroca_fixture.py > tests/data/syrroca/cadvisor_day.csv
"""
import csv
import sys

pods = [("pcscf", "pcscf-deployment-5d9f7b6c8-abcde"), ("hss", "hss-deployment-7c8d9e0f1-fghij")]
cols = []
for short, pod in pods:
    base = 'container="%s",container_name="%s",id="/kubepods/besteffort/pod-%s",image="openims/%s:1.0",name="k8s_%s",namespace="openims",pod="%s",pod_name="%s"' % (
        short, short, short, short, short, pod, pod)
    cols.append(("container_cpu_usage_seconds_total{%s}" % base, "counter"))
    cols.append(("container_memory_usage_bytes{%s}" % base, "gauge"))
    cols.append(("container_network_receive_bytes_total{%s,interface=\"eth0\"}" % base, "counter"))
    cols.append(("container_fs_usage_bytes{%s,device=\"/dev/sda1\"}" % base, "gauge"))
cols.append(('node_cpu_seconds_total{cpu="0",mode="idle"}', "counter"))
cols.append(("node_memory_MemAvailable_bytes", "gauge"))

w = csv.writer(sys.stdout, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
w.writerow([""] + ["timestamp"] + [c for c, _ in cols])
t0 = 1581501170989  # a cAdvisor sample time in ms (from the SYRROCA code's comments)
for i in range(6):
    row = [str(i), str(t0 + 5000 * i)]
    for j, (_, kind) in enumerate(cols):
        if i == 3 and j == 1:
            row.append("")  # a missing value, as pandas writes NaN
        elif kind == "counter":
            row.append(repr(100.0 * (j + 1) + 2.5 * i * (j + 1)))
        else:
            row.append(repr(1.0e6 * (j + 1) + ((-1) ** i) * 1000.0 * j))
    w.writerow(row)
