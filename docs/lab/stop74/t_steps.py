"""t_steps.py: the two-step truth of tests/test_gp_prior.py, with and without steps, the
GP stage's log printed (the lab check of each search variant)."""

import sys
import time

import torch

sys.path.insert(0, "/work/main/tests")
from soilbinn.training.config import load_config  # noqa: E402
from soilbinn.training.gp_fit import fit_gp_prior  # noqa: E402
from test_gp_prior import F64, _FixedOutputs, two_step_truth  # noqa: E402

torch.set_num_threads(1)
n, num, cat, truth, loss_of_outputs, start = two_step_truth()
for extra in (["train.gp_prior.steps=0"], ["train.gp_prior.steps=6"]):
    over = ["train.gp_prior.subset=300", "train.gp_prior.support=dense", *extra]
    cfg = load_config("demo", over).train.gp_prior
    t0 = time.time()
    prior, info = fit_gp_prior(_FixedOutputs(start), (num[:n].float(), cat[:n], None),
                               loss_of_outputs, n_obs=2 * n, cfg=cfg, use_lonlat=False,
                               log=print)  # fmt: skip
    with torch.no_grad():
        new = prior(num[n:].float(), cat[n:]).to(F64)
    tt = truth[n:]
    r2 = 1 - ((new - tt) ** 2).sum(0) / ((tt - tt.mean(0)) ** 2).sum(0)
    print(extra, r2, info["log_evidence"], info.get("steps"), time.time() - t0)
