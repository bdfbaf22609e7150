#!/usr/bin/env python3
"""Sums an ncu --csv gpu__time_duration run per kernel name: calls, us/call, share."""
import collections
import csv
import sys

rows = [r for r in csv.reader(open(sys.argv[1], errors="replace")) if len(r) > 10]
if not rows:
    sys.exit("no ncu rows in " + sys.argv[1])
head, rows = rows[0], rows[1:]
ki, vi, ui = head.index("Kernel Name"), head.index("Metric Value"), head.index("Metric Unit")
scale = {"nsecond": 1.0, "usecond": 1e3, "msecond": 1e6}
tot = collections.defaultdict(float)
cnt = collections.Counter()
for r in rows:
    try:
        v = float(r[vi].replace(",", "")) * scale.get(r[ui], 1.0)
    except ValueError:
        continue
    name = r[ki].replace("<unnamed>::", "").replace("(anonymous namespace)::", "")
    name = name.split("(")[0].split("<")[0][-40:]
    tot[name] += v
    cnt[name] += 1
s = sum(tot.values())
print(f"{'kernel':40s} {'calls':>6s} {'us/call':>9s} {'share':>6s}  (total {s/1e3:.1f} us)")
for k, v in sorted(tot.items(), key=lambda x: -x[1])[:25]:
    print(f"{k:40s} {cnt[k]:6d} {v/cnt[k]/1e3:9.2f} {100*v/s:5.1f}%")
