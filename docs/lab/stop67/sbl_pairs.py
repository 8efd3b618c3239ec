"""SBL with pair groups: main-effect groups as sbl_off.basis, plus one group per pair of
numeric columns (product of the two standardised values). A covariate counts as relevant
if its main group or any pair group it is in is relevant."""

import sys

import numpy as np
import torch
from sbl_off import GROUP_NAMES, basis, sbl

f64 = torch.float64


def pair_groups(x, onehot):
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
    from sbl_truth import truth_support, truth_terms

    n = sys.argv[1]
    mode = sys.argv[2] if len(sys.argv) > 2 else "truth"
    D = np.load(f"dumps/{n}.npz")
    x = torch.as_tensor(D["x"])
    if mode == "truth":
        z, g, h = truth_terms(n, len(x))
    else:
        z, g, h = (torch.as_tensor(D[k]) for k in ("z", "g", "h"))
    sup, ng = support(x, z, g, h, D)
    _, cols = basis(x, D["onehot"], int(D["n_numeric"]), D["n_categories"])
    for j, tr in enumerate(truth_support(n, cols)):
        kept = ",".join(GROUP_NAMES[i] for i in sup[j])
        print(j, mode, len(sup[j]), kept, "| truth GP:", ",".join(tr))
