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

Which part of the truth's prior matters (stop 64): ``--save H.npz`` keeps the fitted
hyperparameters; ``--from-prediction P.nc`` fits the same GPs to a prediction's logits at
the training sites instead of the truth's (what the run's own estimates say about the
prior: on real data this is all there is); ``--load H.npz`` reuses a saved set, and
``--parts-from H2.npz --parts ls,mean`` replaces those parts of it (``ls`` the log length
scales, ``variance``, ``mean``) by another set's.

Usage::

    python benchmarks/gp_oracle_hyperparameters.py RUN lc31.nc NEW_RUN
    soilbinn predict NEW_RUN --data lc31.nc --out pred.nc
    python benchmarks/gp_oracle_hyperparameters.py RUN T.nc ORACLE --save truth.npz
    python benchmarks/gp_oracle_hyperparameters.py RUN T.nc PLUGIN --from-prediction P.nc \
        --save est.npz
    python benchmarks/gp_oracle_hyperparameters.py RUN T.nc MIXED --load est.npz \
        --parts-from truth.npz --parts ls
    python benchmarks/gp_oracle_hyperparameters.py RUN T.nc SUPPORT --load truth.npz --support

Search or criterion (stop 65): ``--support`` keeps only which features the truth's GPs
find relevant (a length scale below ``--support-lengthscale`` training standard deviations,
default 100) and reruns the GP stage with the run's own settings (``demo``'s kernels, the
evidence fit, its tie), each parameter's length scales fitted on those features alone
(``fit_gp_prior(irrelevant=...)``). If the evidence of that rerun is higher than the run's,
the evidence prefers the truth's sparse relevance and the evidence fit did not find it.

Used for the stop 34, 64 and 65 diagnoses in ``docs/recovery_ablation.md``.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
import pandas as pd
import torch
import xarray as xr
from gp_stage_rerun import main as rerun_main
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

import soilbinn.training.trainer as trainer_module
from soilbinn.training.gp_fit import fit_gp_prior, site_features


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
    ap.add_argument("--from-prediction", default=None,
                    help="fit the GPs to this prediction's logits (soilbinn predict output), "
                         "not the truth's")  # fmt: skip
    ap.add_argument("--save", default=None, help="write the hyperparameters used (.npz)")
    ap.add_argument("--load", default=None, help="use these saved hyperparameters (.npz)")
    ap.add_argument("--parts-from", default=None, help="another saved set (.npz)")
    ap.add_argument("--parts", default="", help="its parts to use: ls, variance, mean")
    ap.add_argument("--support", action="store_true",
                    help="keep only which features are relevant: the evidence fits the rest "
                         "with the run's own GP settings")  # fmt: skip
    ap.add_argument("--support-lengthscale", type=float, default=100.0,
                    help="relevant: a length scale below this (training sd)")  # fmt: skip
    args = ap.parse_args(argv)
    keys = {"ls": "log_lengthscale", "variance": "variance", "mean": "mean"}
    parts = [p for p in args.parts.split(",") if p]
    if any(p not in keys for p in parts) or bool(parts) != bool(args.parts_from):
        ap.error("--parts needs --parts-from, and names among ls, variance, mean")
    truth: dict[str, torch.Tensor] = {}
    original_method = trainer_module._Trainer.fit_gp_prior

    def with_truth(self):  # the true unit-scale parameters of the training sites
        fixed = self.data["train"].fixed_params
        if fixed is None:
            raise SystemExit(f"{args.data}: no true_params to read the truth's GPs from")
        truth["p"] = fixed[:, self.model.learned_index].to(torch.float64)
        truth["names"] = list(self.model.learned_names)
        if args.from_prediction:  # the prediction at the training sites, in their order
            split = pd.read_csv(f"{args.run}/split.csv", dtype=str)
            sites = split.site[split.split == "train"].tolist()
            with xr.open_dataset(args.data) as ds, xr.open_dataset(args.from_prediction) as pr:
                names = truth["names"]
                check = ds.true_params.sel(site=sites, param=names).values
                if check.shape != tuple(truth["p"].shape) or not np.allclose(check, truth["p"]):
                    raise SystemExit(f"{args.run}/split.csv: its training sites are not the "
                                     "ones this rerun trains on")  # fmt: skip
                est = pr.params.sel(site=sites, param=names).values
            truth["p"] = torch.as_tensor(est, dtype=torch.float64)
        return original_method(self)

    def oracle_fit(net, inputs, loss_of_outputs, n_obs, cfg, use_lonlat=True, *rest, **kw):
        x, _, _ = site_features(net, inputs, use_lonlat)
        if args.load:
            hyper = dict(np.load(args.load))
        else:
            z = torch.logit(truth["p"].clamp(1e-6, 1 - 1e-6))
            hyper = oracle_hyperparameters(x.cpu().numpy(), z.cpu().numpy(), args.sites)
        if args.parts_from:
            other = dict(np.load(args.parts_from))
            for part in parts:
                hyper[keys[part]] = other[keys[part]]
        if args.save:
            np.savez(args.save, **hyper)
        for name, var, mean, ls in zip(truth["names"], hyper["variance"], hyper["mean"],
                                       hyper["log_lengthscale"]):  # fmt: skip
            print(f"prior {name}: variance {var:.3g}, mean {mean:.3f}, shortest length scales "
                  f"{np.round(np.sort(np.exp(ls))[:4], 2).tolist()}")  # fmt: skip
        if args.support:
            irrelevant = hyper["log_lengthscale"] > np.log(args.support_lengthscale)
            print("relevant features per parameter: "
                  f"{(~irrelevant).sum(1).tolist()} of {irrelevant.shape[1]}")  # fmt: skip
            return fit_gp_prior(net, inputs, loss_of_outputs, n_obs, cfg, use_lonlat, *rest,
                                irrelevant=torch.as_tensor(irrelevant), **kw)  # fmt: skip
        return fit_gp_prior(net, inputs, loss_of_outputs, n_obs, cfg, use_lonlat, *rest,
                            hyperparameters=hyper, **kw)  # fmt: skip

    trainer_module._Trainer.fit_gp_prior = with_truth
    trainer_module.fit_gp_prior = oracle_fit
    rerun = [args.run, args.data, args.new_run]
    # the oracle's length scales are a squared exponential product kernel's (every feature
    # in the distance)
    fixed_kernel = [] if args.support else [
        "train.gp_prior.kernel=per_parameter", "train.gp_prior.categories=product",
        "train.gp_prior.correlation=squared_exponential"]  # fmt: skip
    for s in [*fixed_kernel, *args.set]:
        rerun += ["--set", s]
    return rerun_main(rerun)


if __name__ == "__main__":
    sys.exit(main())
