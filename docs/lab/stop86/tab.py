"""tab.py COL...: markdown rows, one per truth of `list` (or $LIST); each COL is `n` (sc.sh n) or a
log of GP-stage reruns (NAME TAG score...)."""

import os
import re
import subprocess
import sys


def cell(line):
    m = re.search(
        r"(-?[0-9.]+) / (-?[0-9.]+) / (-?[0-9.]+) (\d+)/(\d+) (PASS|miss) log evidence (-[0-9.]+)",
        line,
    )
    if not m:
        return "not run"
    a, b, c, k, mm, ok, ev = m.groups()
    r = f"{a} / {b} / {c}".replace("-", "−")
    r = f"**{r}**" if ok == "PASS" else r
    w = "none constrained" if mm == "0" else f"w {k}/{mm}"
    return f"{r}, {w} ({ev.replace('-', '−')})"


names = [ln.split() for ln in open(os.environ.get("LIST", "list"))]
cols = []
for col in sys.argv[1:]:
    if col == "n":
        out = subprocess.run(["bash", "sc.sh", "n"], capture_output=True, text=True).stdout
        cols.append({ln.split()[0]: ln for ln in out.splitlines()})
    else:
        cols.append({ln.split()[0]: ln for ln in open(col) if ln.strip()})
for fam, seed in names:
    n = fam + seed
    print(f"| {fam} {seed} | " + " | ".join(cell(c.get(n, "")) for c in cols) + " |")
