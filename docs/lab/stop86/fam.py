"""fam.py LOG...: demo's pass count and lowest held-out R2 per truth family over score logs
(sc.sh lines: NAME r2 / r2 / r2 k/m PASS|miss ...)."""

import re
import sys
from collections import defaultdict

rows = defaultdict(list)
for f in sys.argv[1:]:
    for line in open(f):
        tok = line.split()
        if len(tok) < 7:
            continue
        name = tok[0]
        if tok[1] == "old":
            tok = tok[1:]
        fam = re.match(r"[a-z]+", name).group(0)
        r2 = [float(tok[1]), float(tok[3]), float(tok[5])]
        rows[fam].append((name, min(r2), tok[7] == "PASS"))
tot = [0, 0]
print("| family | target met | lowest of the three R2, per truth |")
print("|---|---|---|")
for fam in sorted(rows, key=lambda k: -sum(p for _, _, p in rows[k])):
    r = rows[fam]
    k = sum(p for _, _, p in r)
    tot[0] += k
    tot[1] += len(r)
    print(f"| {fam} | {k} of {len(r)} | " + ", ".join(f"{m:.2f}" for _, m, _ in r) + " |")
print(f"| all | {tot[0]} of {tot[1]} | |")
