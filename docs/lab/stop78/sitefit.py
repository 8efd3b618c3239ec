"""sitefit.py RUN T.nc P.nc: per-site fits without a prior at the training sites.

A: the estimate (P.nc at the training sites); B: all four learned re-fitted per site from A;
C: w_scaling held at >= 1.02 x its saturation threshold, the other three re-fitted from A;
D: the truth; E: all four re-fitted from D. Prints total misfit (x n_obs/2/misfit0 in log
units) and the learned parameters' R2 at the training sites for each."""

import sys

import pandas as pd
import torch
import xarray as xr

import soilbinn.training.trainer as tm
from soilbinn.cli import main as cli_main
from soilbinn.process.rates import water_saturation_threshold

sys.path.insert(0, "/work/main/benchmarks")
from gp_stage_rerun import _network_state

run, data, pred = sys.argv[1:4]
state = _network_state(run)


def load_network(self):
    self.model.load_state_dict(state)


def diag(self):
    f64 = torch.float64
    model, tr = self.model, self.data["train"]
    names = list(model.learned_names)
    t = xr.open_dataset(data)
    p = xr.open_dataset(pred)
    ps = [str(s) for s in p.site.values]
    ts = [str(s) for s in t.site.values]
    split = pd.read_csv(f"{run}/split.csv")
    trs = split.site[split.split == "train"].astype(str).tolist()
    pn = [str(x) for x in t.param.values]
    cols = [pn.index(n) for n in names]
    est = torch.tensor(p.params.values[[ps.index(s) for s in trs]][:, cols], dtype=f64)
    tru = torch.tensor(t.true_params.values[[ts.index(s) for s in trs]][:, cols], dtype=f64)
    space = model.process_model.space
    lo, hi = space.bounds_tensors(dtype=f64)
    i = space.names.index("w_scaling")
    jw = names.index("w_scaling")
    thr = water_saturation_threshold(tr.forcing.forcing.water_scalar.to(f64))
    thr_u = (thr - lo[i]) / (hi[i] - lo[i])
    n_obs = int(torch.isfinite(tr.soc).sum())

    def loss(u):
        return self.objective_of_learned(u)

    with torch.no_grad():
        m_est = float(loss(est))
    scale = n_obs / 2 / m_est

    def refit(u0, wfloor=None, iters=150):
        z = torch.logit(u0.clamp(1e-5, 1 - 1e-5)).contiguous().clone().requires_grad_(True)
        opt = torch.optim.LBFGS(
            [z],
            lr=1,
            max_iter=iters,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-12,
            tolerance_change=1e-14,
        )

        def u_of(z):
            u = torch.sigmoid(z)
            if wfloor is not None:
                u = u.clone()
                u[:, jw] = wfloor + (1 - wfloor) * u[:, jw]
            return u

        def closure():
            opt.zero_grad()
            value = loss(u_of(z))
            value.backward()
            return value

        opt.step(closure)
        with torch.no_grad():
            return u_of(z).detach()

    def r2(a, b):
        return [
            round(
                float(
                    1 - ((a[:, j] - b[:, j]) ** 2).sum() / ((b[:, j] - b[:, j].mean()) ** 2).sum()
                ),
                3,
            )
            for j in range(a.shape[1])
        ]

    floor = (1.02 * thr_u).clamp(max=0.999)
    cfgs = {"A est": est}
    cfgs["B refit"] = refit(est)
    c0 = est.clone()
    c0[:, jw] = torch.maximum(c0[:, jw], floor + 1e-4)
    cfgs["C w sat"] = refit(c0, wfloor=floor)
    cfgs["D truth"] = tru
    cfgs["E refit truth"] = refit(tru)
    for k, u in cfgs.items():
        with torch.no_grad():
            m = float(loss(u))
        sat = float((u[:, jw] >= thr_u).double().mean())
        print(
            f"{k:14s} misfit {m:.6f} ({-scale * m:.1f} log units) R2 {r2(u, tru)} w saturated {sat:.2f}",
            flush=True,
        )
    torch.save(cfgs, f"{run}_sitefit.pt")
    raise SystemExit(0)


tm._Trainer.fit = load_network
tm._Trainer.polish = lambda self: None
tm._Trainer.fit_gp_prior = diag
cli_main(
    [
        "train",
        "--data",
        data,
        "--config",
        "demo",
        "--set",
        "model.learned=[efolding,tau4s3,fs1s3,w_scaling]",
        "--set",
        "model.fixed_from=true_params",
        "--set",
        "data.split=spatial",
        "--set",
        "train.num_threads=1",
        "--run-dir",
        "/tmp/sitefit_" + run.replace("/", "_"),
    ]
)
