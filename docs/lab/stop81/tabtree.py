"""tabtree.py LOG...: markdown rows of bo.sh logs (NAME TAG demo-score -> boosted score), one per
truth of `list`: `demo`, then each log's boosted R2 and w check."""

import re
import sys

pat = r"(-?[0-9.]+) / (-?[0-9.]+) / (-?[0-9.]+) (?:w )?(\d+)/(\d+) (PASS|miss)"


def fmt(m):
    a, b, c, k, mm, ok = m.groups()
    r = f"{a} / {b} / {c}".replace("-", "−")
    r = f"**{r}**" if ok == "PASS" else r
    return r + (", none constrained" if mm == "0" else f", w {k}/{mm}")


logs = [{ln.split()[0]: ln for ln in open(f) if ln.strip()} for f in sys.argv[1:]]
for fam, seed in (ln.split() for ln in open("list")):
    n = fam + seed
    cells, demo = [], None
    for lg in logs:
        ln = lg.get(n, "")
        parts = [fmt(m) for m in re.finditer(pat, ln)]
        if parts:
            demo = demo or parts[0]
            cells.append(parts[1])
        else:
            cells.append("not run")
    print(f"| {fam} {seed} | {demo} | " + " | ".join(cells) + " |")
