import sys

import numpy as np
import pandas as pd
import torch
import xarray as xr
from sbl_off import GROUP_NAMES, basis, sbl

n = sys.argv[1]
prec = float(sys.argv[2]) if len(sys.argv) > 2 else 100.0
D = np.load(f"dumps/{n}.npz")
x = torch.as_tensor(D["x"])
t = xr.open_dataset(f"fresh/{n}.nc")
split = pd.read_csv(f"fresh/run_{n}/split.csv")
train = split.site[split.split == "train"].astype(str).values
ts = [str(s) for s in t.site.values]
idx = np.array([ts.index(s) for s in train])
names = [str(p) for p in t.param.values]
tp = t.true_params.values[idx][
    :, [names.index(p) for p in ["efolding", "tau4s3", "fs1s3", "w_scaling"]]
]
zt = torch.as_tensor(np.log(tp / (1 - tp)))
assert len(zt) == len(x), (len(zt), len(x))
h = torch.eye(4, dtype=torch.float64).expand(len(x), 4, 4) * prec  # logit noise sd 1/sqrt(prec)
g = torch.zeros_like(zt)
groups, cols = basis(x, D["onehot"], int(D["n_numeric"]), D["n_categories"])
alpha, contrib, ev = sbl(x, zt, g, h, groups)
gn = GROUP_NAMES
T = np.load(f"runs/h_{n}.npz")["log_lengthscale"]
for j in range(4):
    keep = [gn[gi] for gi in range(len(cols)) if alpha[j, gi] < 1e4]
    rel = np.exp(T[j]) < 100
    tr = [gn[gi] for gi, cs in enumerate(cols) if rel[cs].any()]
    print(j, "sbl:", ",".join(keep), "| truth GP:", ",".join(tr))
