"""Rows of stop 75's section 5: demo against the committed gate (qg), per fresh truth."""

import re
import subprocess

fams = [
    ("mix", 3121),
    ("bands", 3123),
    ("steps", 3125),
    ("lc", 3127),
    ("field", 3129),
    ("hinge", 3131),
    ("blocks", 3133),
    ("gp", 3135),
    ("niche", 3137),
    ("response", 3139),
    ("regimes", 3141),
    ("indices", 3143),
    ("levels", 3145),
]
alias = {3127: "pg3127", 3141: "pg3141"}


def line(tag, name, data):
    out = subprocess.run(
        [
            "python",
            "score.py",
            f"fresh/{data}.nc",
            f"fresh/run_{tag}_{name}",
            f"fresh/p_{tag}_{name}.nc",
            f"fresh/id_{data}.nc",
        ],
        capture_output=True,
        text=True,
    ).stdout.split()
    r2 = " / ".join(out[0:5:2])
    w = out[5]
    ok = out[6] == "PASS"
    log = open(f"fresh/run_{tag}_{name}/train.log").read()
    ev = re.findall(r"log evidence (-[0-9.]+)", log)[-1]
    cpu = open(f"fresh/{tag}_{name}.time").read().split()[0]
    gates = re.findall(r"with them: (kept|dropped)", log)
    w = "none constrained" if w == "0/0" else f"w {w}"
    cell = f"{r2}, {w}"
    return (f"**{cell}**" if ok else cell) + f" (−{ev[1:]})", float(cpu), gates, ok


npass = [0, 0]
for fam, seed in fams:
    data = f"{fam}{seed}"
    qn = alias.get(seed, f"qg{seed}")
    try:
        q, qc, gates, qok = line("d", qn, data)
    except Exception:
        print(f"| {fam} {seed} | pending |")
        continue
    d, dc, _, dok = line("d", data, data)
    npass[0] += dok
    npass[1] += qok
    g = ", ".join(gates)
    print(f"| {fam} {seed} | {d} | {q} | {g} | {dc:.0f} / {qc:.0f} |")
print("passes demo / qg:", npass)
