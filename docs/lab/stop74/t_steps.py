import sys
import time

sys.path.insert(0, "/work/main/tests")
import torch

from soilbinn.training.config import load_config
from soilbinn.training.gp_fit import fit_gp_prior
from test_gp_prior import F64, _FixedOutputs

torch.set_num_threads(1)
gen = torch.Generator().manual_seed(11)
n, n_new = 300, 200
num = torch.rand(n + n_new, 2, generator=gen, dtype=F64) * 6 - 3
cat = torch.zeros(n + n_new, 1, dtype=torch.long)
step = 2.4 * (num[:, 0] > 0.5) + 1.6 * (num[:, 1] > -1.0) - 1.8
truth = torch.sigmoid(torch.stack([step + 0.2 * num[:, 1], -0.5 * step], 1))
target = truth[:n] + 0.03 * torch.randn(n, 2, generator=gen, dtype=F64)


def loss_of_outputs(p):
    return ((p.to(F64) - target) ** 2).sum() / (2 * n)


start = (target.clamp(0.02, 0.98)).float()
for extra in (["train.gp_prior.steps=0"], ["train.gp_prior.steps=6"]):
    cfg = load_config(
        "demo",
        [
            "train.gp_prior.draws=1",
            "train.gp_prior.subset=300",
            "train.gp_prior.support=dense",
            *extra,
        ],
    ).train.gp_prior
    t0 = time.time()
    prior, info = fit_gp_prior(
        _FixedOutputs(start),
        (num[:n].float(), cat[:n], None),
        loss_of_outputs,
        n_obs=2 * n,
        cfg=cfg,
        use_lonlat=False,
        log=print,
    )
    with torch.no_grad():
        new = prior(num[n:].float(), cat[n:]).to(F64)
    tt = truth[n:]
    r2 = 1 - ((new - tt) ** 2).sum(0) / ((tt - tt.mean(0)) ** 2).sum(0)
    print(extra, r2, info["log_evidence"], info.get("steps"), time.time() - t0)
