"""best2.py A.log B.log: per truth in both score logs (sc.sh lines), which run the Laplace
log evidence at all training sites prefers, and the target met by A, by B and by that
choice (a second candidate chosen by the evidence alone, no truth read)."""

import re
import sys


def read(path):
    out = {}
    for line in open(path):
        m = re.match(r"(\S+) .* (PASS|miss) log evidence (-[0-9.]+)", line)
        if m:
            out[m.group(1)] = (m.group(2) == "PASS", float(m.group(3)), line.split()[1:6])
    return out


a, b = read(sys.argv[1]), read(sys.argv[2])
both = [n for n in a if n in b]
ka = kb = kc = 0
print("| truth | A | B | evidence B − A | chosen |")
print("|---|---|---|---|---|")
for n in both:
    (pa, ea, ra), (pb, eb, rb) = a[n], b[n]
    pc = pb if eb > ea else pa
    ka, kb, kc = ka + pa, kb + pb, kc + pc
    mark = {True: "pass", False: "miss"}
    print(
        f"| {n} | {mark[pa]} | {mark[pb]} | {eb - ea:+.1f} | {'B' if eb > ea else 'A'}: {mark[pc]} |"
    )
print(f"\n{len(both)} truths: A {ka}, B {kb}, the higher evidence {kc}")
