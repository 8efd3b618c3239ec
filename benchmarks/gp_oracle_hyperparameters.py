"""The GP stage with hyperparameters read off a synthetic truth (a diagnosis).

How much of a recovery's error is the evidence's choice of prior, and how much is what the
SOC leaves open? For a finished acceptance run on a synthetic dataset (one with
``true_params``), each learned parameter gets a GP fitted to its *true* logits at
``--sites`` random training sites (scikit-learn: an ARD squared-exponential kernel times
a constant plus white noise, by their marginal likelihood) on the GP stage's own features
(:func:`soilbinn.training.gp_fit.site_features`). The GP stage is then rerun from the
run's network (as ``gp_stage_rerun.py``) with those length scales, variances and means
fixed in every round instead of the evidence fit (``fit_gp_prior(hyperparameters=...)``),
and writes a new run directory that ``soilbinn predict`` reads. The SOC and the Newton
steps are the same; only the prior is the truth's. On real data there is no truth to read,
so this bounds what a better evidence fit could gain; it is not a way to train.

Usage::

    python benchmarks/gp_oracle_hyperparameters.py RUN lc31.nc NEW_RUN
    soilbinn predict NEW_RUN --data lc31.nc --out pred.nc

Used for the stop 34 diagnosis in ``docs/recovery_ablation.md``.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
import torch
from gp_stage_rerun import main as rerun_main
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

import soilbinn.training.trainer as trainer_module
from soilbinn.training.gp_fit import fit_gp_prior, gp_edges, site_features


def oracle_hyperparameters(
    x: np.ndarray, z: np.ndarray, sites: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """Per-parameter GP hyperparameters fitted to known logits.

    Parameters
    ----------
    x : array (n, d)
        Standardised features of the training sites.
    z : array (n, k)
        True logits of the learned parameters there.
    sites : int
        Number of random sites the marginal likelihood is read on (its cost grows as their
        cube).

    Returns
    -------
    dict
        ``log_lengthscale`` (k, d), ``variance`` (k,), ``mean`` (k,): the arguments of
        ``fit_gp_prior(hyperparameters=...)``.
    """
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(x), size=min(sites, len(x)), replace=False)
    mean = z.mean(0)
    log_ls, variance = [], []
    for j in range(z.shape[1]):
        kernel = ConstantKernel(1.0) * RBF(np.full(x.shape[1], 3.0), (1e-2, 1e4)) + WhiteKernel(
            1e-2, (1e-6, 1.0)
        )
        with warnings.catch_warnings():  # length scales at their bound: irrelevant features
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp = GaussianProcessRegressor(kernel, random_state=seed)
            gp.fit(x[idx], z[idx, j] - mean[j])
        fitted = gp.kernel_
        log_ls.append(np.log(fitted.k1.k2.length_scale))
        variance.append(fitted.k1.k1.constant_value)
    return {"log_lengthscale": np.array(log_ls), "variance": np.array(variance), "mean": mean}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="finished acceptance run directory (its network is reused)")
    ap.add_argument("data", help="the synthetic dataset it was trained on (with true_params)")
    ap.add_argument("new_run", help="run directory to write (must not exist)")
    ap.add_argument("--sites", type=int, default=600, help="sites the truth's GPs are fitted on")
    ap.add_argument("--set", action="append", default=[], help="config override KEY=VALUE")
    args = ap.parse_args(argv)
    truth: dict[str, torch.Tensor] = {}
    original_method = trainer_module._Trainer.fit_gp_prior

    def with_truth(self):  # the true unit-scale parameters of the training sites
        fixed = self.data["train"].fixed_params
        if fixed is None:
            raise SystemExit(f"{args.data}: no true_params to read the truth's GPs from")
        truth["p"] = fixed[:, self.model.learned_index].to(torch.float64)
        truth["names"] = list(self.model.learned_names)
        return original_method(self)

    def oracle_fit(net, inputs, loss_of_outputs, n_obs, cfg, use_lonlat=True, *rest, **kw):
        x, _, _ = site_features(net, inputs, use_lonlat, gp_edges(inputs, cfg, use_lonlat))
        z = torch.logit(truth["p"].clamp(1e-6, 1 - 1e-6))
        hyper = oracle_hyperparameters(x.cpu().numpy(), z.cpu().numpy(), args.sites)
        for name, var, ls in zip(truth["names"], hyper["variance"], hyper["log_lengthscale"]):
            print(f"oracle {name}: variance {var:.3g}, shortest length scales "
                  f"{np.round(np.sort(np.exp(ls))[:4], 2).tolist()}")  # fmt: skip
        return fit_gp_prior(net, inputs, loss_of_outputs, n_obs, cfg, use_lonlat, *rest,
                            hyperparameters=hyper, **kw)  # fmt: skip

    trainer_module._Trainer.fit_gp_prior = with_truth
    trainer_module.fit_gp_prior = oracle_fit
    rerun = [args.run, args.data, args.new_run]
    # the oracle's length scales are a squared exponential product kernel's (every feature
    # in the distance)
    for s in ["train.gp_prior.kernel=per_parameter", "train.gp_prior.categories=product",
              "train.gp_prior.correlation=squared_exponential", *args.set]:  # fmt: skip
        rerun += ["--set", s]
    return rerun_main(rerun)


if __name__ == "__main__":
    sys.exit(main())
