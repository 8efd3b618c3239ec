"""SBL with pair groups: main-effect groups as sbl_off.basis, plus one group per pair of
numeric columns (product of the two standardised values). A covariate counts as relevant
if its main group or any pair group it is in is relevant."""

import sys

import numpy as np
import torch
from sbl_off import GROUP_NAMES, basis, sbl

f64 = torch.float64


def pair_groups(x, onehot, n_pairs_max=None):
    num = [d for d in range(x.shape[1]) if not onehot[d]]
    xs = (x[:, num] - x[:, num].mean(0)) / x[:, num].std(0)
    groups, members = [], []
    for a in range(len(num)):
        for b in range(a + 1, len(num)):
            p = (xs[:, a] * xs[:, b])[:, None]
            groups.append((p - p.mean()) / p.std())
            members.append((a, b))
    return groups, members


def support(x, z, g, h, D, prune=1e4):
    groups, cols = basis(x, D["onehot"], int(D["n_numeric"]), D["n_categories"])
    pg, members = pair_groups(x, D["onehot"])
    alpha, contrib, ev = sbl(x, z, g, h, groups + pg)
    ng = len(groups)
    out = []
    for j in range(z.shape[1]):
        rel = set(gi for gi in range(ng) if alpha[j, gi] < prune)
        for k, (a, b) in enumerate(members):
            if alpha[j, ng + k] < prune:
                rel |= {a, b}  # numeric column index == main group index (numerics first)
        out.append(sorted(rel))
    return out, ng


if __name__ == "__main__":
    import pandas as pd
    import xarray as xr

    n = sys.argv[1]
    mode = sys.argv[2] if len(sys.argv) > 2 else "truth"
    D = np.load(f"dumps/{n}.npz")
    x = torch.as_tensor(D["x"])
    if mode == "truth":
        t = xr.open_dataset(f"fresh/{n}.nc")
        split = pd.read_csv(f"fresh/run_{n}/split.csv")
        train = split.site[split.split == "train"].astype(str).values
        ts = [str(s) for s in t.site.values]
        idx = np.array([ts.index(s) for s in train])
        names = [str(p) for p in t.param.values]
        cols4 = [names.index(p) for p in ["efolding", "tau4s3", "fs1s3", "w_scaling"]]
        tp = t.true_params.values[idx][:, cols4]
        z = torch.as_tensor(np.log(tp / (1 - tp)))
        h = torch.eye(4, dtype=f64).expand(len(x), 4, 4) * 100.0
        g = torch.zeros_like(z)
    else:
        z, g, h = (torch.as_tensor(D[k]) for k in ("z", "g", "h"))
    sup, ng = support(x, z, g, h, D)
    T = np.load(f"runs/h_{n}.npz")["log_lengthscale"] if mode else None
    _, cols = basis(x, D["onehot"], int(D["n_numeric"]), D["n_categories"])
    for j in range(4):
        rel = np.exp(T[j]) < 100
        tr = [GROUP_NAMES[gi] for gi, cs in enumerate(cols) if rel[cs].any()]
        print(
            j,
            mode,
            len(sup[j]),
            ",".join(GROUP_NAMES[i] for i in sup[j]),
            "| truth GP:",
            ",".join(tr),
        )
