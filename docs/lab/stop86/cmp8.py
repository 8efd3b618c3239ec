"""cmp8.py: demo (n.log, n5.log) against draws 2 + tempered path (q7.log d2t, q8.log) on the
truths where both exist: passes, and the lowest of the three R2."""

import re


def read(files, tag=None):
    out = {}
    for f in files:
        for ln in open(f):
            p = ln.split()
            if not p or (tag and p[1] != tag):
                continue
            m = re.search(
                r"(-?[0-9.]+) / (-?[0-9.]+) / (-?[0-9.]+) \d+/\d+ (PASS|miss) log evidence (-[0-9.]+)",
                ln,
            )
            if m:
                a, b, c, ok, ev = m.groups()
                out[p[0]] = (min(float(a), float(b), float(c)), ok == "PASS", float(ev))
    return out


demo = read(["n.log", "n5.log"])
alt = read(["q7.log", "q8.log"], "d2t")
both = [k for k in demo if k in alt]
print(
    f"{len(both)} truths: demo {sum(demo[k][1] for k in both)} pass, draws 2 + tempered {sum(alt[k][1] for k in both)}"
)
for k in both:
    d, a = demo[k], alt[k]
    flag = "gained" if a[1] and not d[1] else ("lost" if d[1] and not a[1] else "")
    print(
        f"{k:14s} demo {d[0]:.3f} {'PASS' if d[1] else 'miss'} ({d[2]:.1f})  d2t {a[0]:.3f} {'PASS' if a[1] else 'miss'} ({a[2]:.1f}) {flag}"
    )
