"""sstart.py RUN T.nc NEW [--set ...]: GP-stage rerun with extra starts along each site's ridge.

Besides demo's start(s), starts with every training site's logits moved by +-DELTA (env,
logits) along the weakest direction of its SOC misfit Hessian among efolding, tau4s3 and
fs1s3 (sign: efolding up for +), computed at demo's first start. With select_after 1 every
start runs one round and the highest evidence goes on.
"""

import os
import sys

import torch

sys.path.insert(0, "/work/main/benchmarks")
import gp_stage_rerun  # noqa: E402

import soilbinn.training.trainer as tm  # noqa: E402
from soilbinn.training.polish import site_gradient_hessian  # noqa: E402

_orig_fit = tm.fit_gp_prior
DELTAS = [float(v) for v in os.environ.get("DELTA", "0.3,-0.3").split(",")]


def fit(net, inputs, loss, n_obs, cfg, use_lonlat, seed, log, blend, starts, **kw):
    base = starts[0]
    with torch.no_grad():
        p = net(*inputs).detach().to(torch.float64)
        q = (p if base is None else base(p)).clamp(1e-6, 1 - 1e-6)
    with torch.enable_grad():
        _, _, hq = site_gradient_hessian(loss, q)
    dq = q * (1 - q)
    h = hq * dq[:, :, None] * dq[:, None, :]
    _, vec = torch.linalg.eigh(h[:, :3, :3])
    v = vec[:, :, 0]
    v = v * torch.where(v[:, :1] < 0, -1.0, 1.0)
    if log is not None:
        log(f"ridge direction, mean over sites {[round(float(a), 3) for a in v.mean(0)]}")
    z0 = torch.logit(q)

    def shifted(d):
        def start(pp):
            zz = z0.clone()
            zz[:, :3] += d * v
            return torch.sigmoid(zz).to(pp.dtype)

        return start

    new = list(starts) + [shifted(d) for d in DELTAS]
    prior, res = _orig_fit(net, inputs, loss, n_obs, cfg, use_lonlat, seed, log, blend, new, **kw)
    if log is not None:
        log(f"ridge starts: kept start {res.get('start')} (0: demo's)")
    res["start"] = 0  # the trainer reads its own starts list
    return prior, res


tm.fit_gp_prior = fit
if __name__ == "__main__":
    sys.exit(gp_stage_rerun.main())
