"""hcmp.py RUN1 RUN2 ...: kept GP hyperparameters per learned parameter"""

import sys

import numpy as np
import torch

for run in sys.argv[1:]:
    st = torch.load(f"{run}/checkpoints/best.pt", map_location="cpu", weights_only=False)["model"]
    ls = st["param_net.log_lengthscale"].numpy()
    var = np.diag(st["param_net.chol_b"].numpy()) ** 2
    mean = st["param_net.mean"].numpy()
    d = (ls.shape[1] - 1) // 2
    print(run)
    for j in range(ls.shape[0]):
        se, ad, w = ls[j, :d], ls[j, d : 2 * d], ls[j, -1]
        kept = se < np.log(1e3)
        print(
            f"  p{j} var {var[j]:.3f} mean {mean[j]:+.3f} w {w:+.2f} kept {kept.sum()} "
            f"se ls {np.round(np.exp(se[kept]), 1).tolist()}"
        )
