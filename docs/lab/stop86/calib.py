import sys

import torch

sys.path.insert(0, "/work/main/tests")
from soilbinn.training.config import load_config
from soilbinn.training.gp_fit import fit_gp_prior
from test_gp_prior import F64, _FixedOutputs

for seed in (5, 6, 7):
    gen = torch.Generator().manual_seed(seed)
    n, n_new, sig = 250, 150, 0.03
    num = torch.rand(n + n_new, 2, generator=gen, dtype=F64) * 6 - 3
    far = torch.rand(50, 2, generator=gen, dtype=F64) * 2 + 4
    num = torch.cat([num, far])
    cat = torch.zeros(len(num), 1, dtype=torch.long)
    lonlat = torch.zeros(len(num), 2, dtype=F64)
    truth = torch.sigmoid(
        torch.stack(
            [torch.sin(num[:, 0]) + 0.3 * num[:, 1], -0.4 * num[:, 1] + 0.2 * num[:, 0] ** 2 - 0.5],
            1,
        )
    )
    target = truth[:n] + sig * torch.randn(n, 2, generator=gen, dtype=F64)

    def loss_of_outputs(p, target=target, n=n):
        return ((p.to(F64) - target) ** 2).sum() / (2 * n)

    start = (target.mean(0) + 0.5 * (target - target.mean(0))).float()
    m0 = float(loss_of_outputs(start))
    n_obs = 2 * n * m0 / sig**2 / 2  # scale*loss = n_obs/(2 m0) * sum/(2n) = sum/(2 sig^2)
    cfg = load_config("demo", ["train.gp_prior.subset=250"]).train.gp_prior
    prior, info = fit_gp_prior(
        _FixedOutputs(start),
        (num[:n].float(), cat[:n], None),
        loss_of_outputs,
        n_obs=n_obs,
        cfg=cfg,
        use_lonlat=False,
    )
    with torch.no_grad():
        p = prior(num[n:].float(), cat[n:]).to(F64)
        sd = prior.posterior_sd(num[n:].float(), cat[n:])
        sdt = prior.posterior_sd(num[:n].float(), cat[:n])
    z = torch.logit(p.clamp(1e-9, 1 - 1e-9))
    zt = torch.logit(truth[n:])
    e = (zt - z) / sd
    inner, outer = slice(0, n_new), slice(n_new, None)
    cov = (e[inner].abs() < 1.645).double().mean(0)
    print(
        seed,
        info["misfit_after"],
        "cov90",
        cov.tolist(),
        "z2",
        (e[inner] ** 2).mean(0).tolist(),
        "sd in/far/train",
        sd[inner].median(0).values.tolist(),
        sd[outer].median(0).values.tolist(),
        sdt.median(0).values.tolist(),
        "far cov",
        (e[outer].abs() < 1.645).double().mean(0).tolist(),
    )
