"""Is the training objective's minimum near the truth? (diagnostic for the ablation table)

Builds the acceptance setup of issue 11 (``--config demo``, efolding, tau4s3, fs1s3 and
w_scaling learned, the rest fixed to ``true_params``, spatial split), then

1. prints the log-SOC misfit of the *true* parameters on train / val / test (the noise
   floor, ~0.01 for 10% log-normal noise);
2. fits the parameter network directly to the true parameters of the training sites
   (supervised, no process model): the "oracle" network; prints its held-out R2 and misfit;
3. polishes that oracle network on the SOC misfit and prints R2 again: if the parameters
   stay near the truth, the objective has a good minimum there. ``--polish lbfgs`` (the
   default) is full-batch L-BFGS without weight decay; ``--polish newton`` is the demo's
   own polishing (``training.polish.newton_polish`` with the demo's L2 of
   ``weight_decay_per_obs`` / training observations) and prints the final objective, to
   compare with ``loss_after`` of ``benchmarks/bench_recovery.py`` on the same data: equal
   objectives at different parameters mean the data cannot choose between them.

Usage::

    python benchmarks/recovery_oracle.py mix.nc [--iterations 300]
    python benchmarks/recovery_oracle.py mix.nc --polish newton --iterations 25
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import xarray as xr

from soilbinn.experiments.common import PAPER_RECOVERY_PARAMS
from soilbinn.process.parameters import ParameterSpace
from soilbinn.training.config import load_config
from soilbinn.training.losses import masked_misfit
from soilbinn.training.modelbuild import build_model
from soilbinn.training.polish import lbfgs_polish, newton_polish
from soilbinn.training.sitedata import site_data_from_dataset
from soilbinn.training.trainer import _decay_groups, _input_meta, _obs_weights, _split, interpolate


def _r2(pred: np.ndarray, truth: np.ndarray) -> list[float]:
    ss = ((truth - truth.mean(0)) ** 2).sum(0)
    return [round(float(v), 3) for v in 1 - ((pred - truth) ** 2).sum(0) / ss]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--supervised-steps", type=int, default=3000)
    ap.add_argument("--polish", choices=("lbfgs", "newton"), default="lbfgs")
    a = ap.parse_args()
    torch.set_num_threads(1)
    ds = xr.open_dataset(a.data).load()
    learn = list(PAPER_RECOVERY_PARAMS)
    cfg = load_config("demo", ["data.split=spatial", f"model.learned=[{','.join(learn)}]",
                               "model.fixed_from=true_params"])  # fmt: skip
    space = ParameterSpace.from_preset(cfg.model.preset, cfg.model.transport)
    names = [str(p) for p in ds["param"].values]
    cols = [names.index(n) for n in learn]
    data, truth = {}, {}
    for s, ix in zip(("train", "val", "test"), _split(cfg, ds, None, None, None)):
        sub = ds.isel(site=ix)
        data[s] = site_data_from_dataset(sub, observations=True, fixed_from="true_params",
                                         param_names=space.names)  # fmt: skip
        truth[s] = torch.tensor(sub["true_params"].values[:, cols])
    torch.manual_seed(0)
    model = build_model(cfg, _input_meta(cfg, data["train"]))
    for d in data.values():
        d.forcing = model.process_model.prepare(d.forcing)

    def misfit(d, learned=None):
        if learned is None:
            out = model(d)
        else:
            out = model.process_model(model.assemble(learned, d.fixed_params), d.forcing)
        pred = interpolate(out["soc_layer"], d.depth)
        num, den = masked_misfit(pred, d.soc, _obs_weights(cfg, d), cfg.loss, {})
        return num / den

    @torch.no_grad()
    def report(what):
        model.eval()
        for s, d in data.items():
            p = model.param_net(d.numeric, d.categorical, d.lonlat).double().numpy()
            print(f"{what:>22} {s:>5}: R2 {_r2(p, truth[s].numpy())} misfit {float(misfit(d)):.5f}")

    with torch.no_grad():
        for s, d in data.items():
            print(f"{'true parameters':>22} {s:>5}: misfit {float(misfit(d, truth[s])):.5f}")
    net, tr = model.param_net, data["train"]
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(a.supervised_steps):
        net.train()
        loss = ((net(tr.numeric, tr.categorical, tr.lonlat) - truth["train"].float()) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    report("oracle network")
    if a.polish == "newton":
        pol = cfg.train.polish
        n_obs = int(torch.isfinite(tr.soc).sum())
        wd = pol.weight_decay + pol.weight_decay_per_obs / n_obs
        res = newton_polish(
            model, lambda: net(tr.numeric, tr.categorical, tr.lonlat),
            lambda learned: misfit(tr, learned), a.iterations, pol.inner_iterations,
            pol.history_size, wd, _decay_groups(model, 0)[0]["params"], damping=pol.damping,
        )  # fmt: skip
    else:
        res = lbfgs_polish(model, lambda: misfit(tr), a.iterations)
    print({k: round(v, 5) for k, v in res.items()})
    report("oracle, then polished")


if __name__ == "__main__":
    main()
