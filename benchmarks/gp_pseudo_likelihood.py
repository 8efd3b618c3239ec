"""The GP stage on a Gaussian pseudo-likelihood with the SOC's information (a diagnosis).

Is the prior the GP stage's evidence fit picks on a synthetic truth limited by the
Laplace approximation of the SOC likelihood, or by the type-II fit itself? Here each
training site's learned parameters are *observed* directly: ``y_i = truth_i + e_i``,
``e_i ~ N(0, F_i^-1)``, with ``F_i`` the Fisher information of the site's SOC at the
truth on the unit scale (``fisher`` in the output of ``soilbinn identifiability``; no
noise along directions ``F_i`` does not see), and the misfit is ``0.5 sum_i (q_i - y_i)'
F_i (q_i - y_i)`` with the likelihood's scale fixed at one. The likelihood is then
exactly Gaussian in the parameters, so the stage's Laplace evidence is the exact
evidence of the quadratic model, while each site says as much about each parameter as
its SOC would (at the truth). The GP stage is rerun from a finished acceptance run's
network (as ``gp_stage_rerun.py``) with its evidence fit, or with ``--oracle`` with the
hyperparameters read off the truth (as ``gp_oracle_hyperparameters.py``), and writes a
run directory that ``soilbinn predict`` reads. Used for the stop 37 diagnosis in
``docs/recovery_ablation.md``.

Usage::

    soilbinn identifiability lc41.nc --learned efolding,tau4s3,fs1s3,w_scaling --out id.nc
    python benchmarks/gp_pseudo_likelihood.py RUN lc41.nc id.nc NEW_RUN [--oracle]
    soilbinn predict NEW_RUN --data lc41.nc --out pred.nc
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
import xarray as xr
from gp_oracle_hyperparameters import oracle_hyperparameters
from gp_stage_rerun import main as rerun_main

import soilbinn.training.trainer as trainer_module
from soilbinn.training.gp_fit import fit_gp_prior, site_features


def pseudo_observations(
    truth: xr.Dataset, ident: xr.Dataset, names: list[str], seed: int
) -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray]:
    """Per site: its row, the pseudo-observation ``y`` (n, k), ``F`` (n, k, k), the truth (n, k).

    ``F`` is the identifiability output's ``fisher`` for ``names``; ``y`` is the truth plus
    noise of covariance ``F^-1`` within the span of ``F``'s eigenvalues above 1e-8 of its
    largest.
    """
    ids = [str(s) for s in ident.site.values]
    fisher = ident.fisher.sel(param=names, param2=names).values
    true = np.stack([truth.true_params.sel(param=p).sel(site=ident.site).values for p in names], 1)
    lam, vec = np.linalg.eigh(fisher)
    seen = lam > 1e-8 * lam.max(axis=1, keepdims=True)
    sd = np.where(seen, 1.0 / np.sqrt(np.where(seen, lam, 1.0)), 0.0)
    noise = np.random.default_rng(seed).standard_normal(lam.shape) * sd
    y = true + np.einsum("nij,nj->ni", vec, noise)
    return {s: i for i, s in enumerate(ids)}, y, fisher, true


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="finished acceptance run directory (its network is reused)")
    ap.add_argument("data", help="the synthetic dataset it was trained on (with true_params)")
    ap.add_argument("identifiability", help="`soilbinn identifiability DATA ...` output (fisher)")
    ap.add_argument("new_run", help="run directory to write (must not exist)")
    ap.add_argument("--noise-seed", type=int, default=0, help="seed of the pseudo-observations")
    ap.add_argument("--oracle", action="store_true", help="hyperparameters read off the truth")
    ap.add_argument("--sites", type=int, default=600, help="sites the truth's GPs are fitted on")
    ap.add_argument("--set", action="append", default=[], help="config override KEY=VALUE")
    args = ap.parse_args(argv)
    truth, ident = xr.open_dataset(args.data), xr.open_dataset(args.identifiability)
    if "fisher" not in ident:
        raise SystemExit(f"{args.identifiability}: no fisher (site, param, param2) variable")
    state: dict = {}

    def objective_of_learned(self, learned: torch.Tensor) -> torch.Tensor:
        if "y" not in state:
            names = list(self.model.learned_names)
            row, y, fisher, true = pseudo_observations(truth, ident, names, args.noise_seed)
            missing = [s for s in self.data["train"].site_ids if s not in row]
            if missing:
                raise SystemExit(f"{args.identifiability}: no site {missing[0]}")
            idx = [row[s] for s in self.data["train"].site_ids]
            state.update(y=torch.as_tensor(y[idx]), fisher=torch.as_tensor(fisher[idx]),
                         true=torch.as_tensor(true[idx]))  # fmt: skip
        d = learned.to(torch.float64) - state["y"]
        return 0.5 * torch.einsum("ni,nij,nj->", d, state["fisher"], d)

    def pseudo_fit(net, inputs, loss_of_outputs, n_obs, cfg, use_lonlat=True, *rest, **kw):
        with torch.no_grad():  # n_obs = 2 x the misfit at the start: the likelihood's scale 1
            q0 = float(loss_of_outputs(net(*inputs).detach().to(torch.float64)))
        if args.oracle:
            x, _, _ = site_features(net, inputs, use_lonlat)
            z = torch.logit(state["true"].clamp(1e-6, 1 - 1e-6))
            kw["hyperparameters"] = oracle_hyperparameters(x.cpu().numpy(), z.cpu().numpy(),
                                                           args.sites)  # fmt: skip
        return fit_gp_prior(net, inputs, loss_of_outputs, 2.0 * q0, cfg, use_lonlat, *rest, **kw)

    trainer_module._Trainer.objective_of_learned = objective_of_learned
    trainer_module.fit_gp_prior = pseudo_fit
    rerun = [args.run, args.data, args.new_run]
    for s in args.set:
        rerun += ["--set", s]
    return rerun_main(rerun)


if __name__ == "__main__":
    sys.exit(main())
