"""sbl_truth.py NAME [PRECISION]: the SBL support fitted to the truth's own logits at the
training sites (a Gaussian likelihood of the given precision in logits, default 100),
beside the support of the truth's GPs (runs/h_NAME.npz from oracle.sh)."""

import sys

import numpy as np
import pandas as pd
import torch
import xarray as xr
from sbl_off import GROUP_NAMES, basis, sbl

LEARNED = ["efolding", "tau4s3", "fs1s3", "w_scaling"]


def truth_terms(n: str, n_sites: int, prec: float = 100.0):
    """(z, g, h): the true logits (sites, 4) at the run's training sites, a zero gradient
    and ``prec`` times the identity as each site's Hessian."""
    t = xr.open_dataset(f"fresh/{n}.nc")
    split = pd.read_csv(f"fresh/run_{n}/split.csv")
    train = split.site[split.split == "train"].astype(str).values
    ts = [str(s) for s in t.site.values]
    idx = np.array([ts.index(s) for s in train])
    names = [str(p) for p in t.param.values]
    tp = t.true_params.values[idx][:, [names.index(p) for p in LEARNED]]
    z = torch.as_tensor(np.log(tp / (1 - tp)))
    assert len(z) == n_sites, (len(z), n_sites)
    h = torch.eye(4, dtype=torch.float64).expand(n_sites, 4, 4) * prec
    return z, torch.zeros_like(z), h


def truth_support(n: str, cols) -> list[list[str]]:
    """Per learned parameter, the groups the truth's GPs find relevant (length scale < 100)."""
    T = np.load(f"runs/h_{n}.npz")["log_lengthscale"]
    return [[GROUP_NAMES[gi] for gi, cs in enumerate(cols) if (np.exp(T[j]) < 100)[cs].any()]
            for j in range(len(T))]  # fmt: skip


if __name__ == "__main__":
    n = sys.argv[1]
    D = np.load(f"dumps/{n}.npz")
    x = torch.as_tensor(D["x"])
    z, g, h = truth_terms(n, len(x), float(sys.argv[2]) if len(sys.argv) > 2 else 100.0)
    groups, cols = basis(x, D["onehot"], int(D["n_numeric"]), D["n_categories"])
    alpha, _, _ = sbl(x, z, g, h, groups)
    for j, tr in enumerate(truth_support(n, cols)):
        keep = [GROUP_NAMES[gi] for gi in range(len(cols)) if alpha[j, gi] < 1e4]
        print(j, "sbl:", ",".join(keep), "| truth GP:", ",".join(tr))
