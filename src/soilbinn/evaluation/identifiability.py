"""Which parameters do a site's observations constrain? Fisher information and Laplace sd.

For each site, the exact Jacobian ``J = d log SOC(z_obs) / d p`` (obs x k) of the simulated
observations with respect to the unit-scale parameters ``p`` (the ``k`` examined ones; the
others held at their values) is computed by reverse mode through the process model (whose
steady-state solve has an implicit, hand-written backward): one batched vector-Jacobian
product per observation slot, all sites at once, since sites are independent.

With multiplicative log-normal observation errors of sd ``sigma`` (10% -> 0.1 in log space)
the Fisher information is ``F = J^T J / sigma^2``. The uniform prior on [0, 1] is replaced
by a Gaussian with its variance 1/12, so the Laplace posterior covariance is
``C = (F + 12 I)^-1`` and its sd never exceeds the prior's 0.289: the data *constrain* a
parameter at a site when its posterior sd is below ``threshold`` (default 0.1, i.e. the
prior's uncertainty shrunk about three-fold). ``posterior_sd`` accounts for trade-offs
between the examined parameters (e.g. tau4s3 against fs1s3); ``conditional_sd`` is the sd
with the other examined parameters known.

This is a local (linearised) analysis at the given parameters: where ``min(W w_scaling, 1)``
saturates in every (layer, month) the derivative in ``w_scaling`` is exactly zero and the
parameter is reported as not constrained, as it truly is not near that value. It cannot
see a distant set of parameters that fits as well (e.g. a saturated water scalar with the
other parameters compensating); the profile likelihood (:func:`profile_chi2`, ``--profile
N``) is the global check: a parameter is *constrained globally* where it is constrained and
no value ``2 threshold`` or farther from the site's (the grid's, and the two at exactly that
distance) fits within the 95% point of chi-square(1).

How much of the parameters' variation between sites the sites' own observations resolve
is :func:`site_information_r2`: with a Gaussian population prior of the parameters'
between-site variance, the expected R2 of each site's posterior mean (no pooling over
covariates). A retrieval from covariates that scores above it on held-out sites owes the
difference to pooling, i.e. to how well its prior matches how the truth varies with the
covariates.

Command::

    soilbinn identifiability DATA --params-var true_params \\
        --learned efolding,tau4s3,fs1s3,w_scaling --profile 10 --out ident.nc
    soilbinn identifiability DATA --params-from PRED.nc --out ident.nc  # at a retrieval
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

from soilbinn.cli import Command

#: variance of the uniform prior on [0, 1]
PRIOR_VARIANCE = 1.0 / 12.0


def observation_jacobian(
    model, p_unit: torch.Tensor, forcing, depth: torch.Tensor, index: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact ``d log SOC(obs) / d p[index]`` per site by reverse mode.

    Parameters
    ----------
    model : CLM5Model
    p_unit : Tensor (n, n_params), unit scale
    forcing : Forcing or PreparedForcing (n sites)
    depth : Tensor (n, obs), m; NaN where there is no observation
    index : sequence of int (k,)
        Parameters to differentiate with respect to (none: ``log_soc`` only).

    Returns
    -------
    (J, log_soc) : Tensor (n, obs, k) per unit-scale parameter, Tensor (n, obs)
        Rows of missing observations are 0 in ``J`` and NaN in ``log_soc``.
    """
    from soilbinn.process.observation import interpolate_to_depths

    p = p_unit.detach().to(torch.float64).clone().requires_grad_(len(index) > 0)
    with torch.set_grad_enabled(len(index) > 0):
        out = model(p, forcing)
    soc = interpolate_to_depths(out["soc_layer"], torch.nan_to_num(depth, nan=0.01))
    log_soc = torch.log(soc.clamp_min(1e-300))
    valid = torch.isfinite(depth)
    idx = torch.as_tensor(list(index), dtype=torch.long)
    J = torch.zeros(*depth.shape, len(idx), dtype=torch.float64)
    for m in range(depth.shape[1] if len(idx) else 0):
        if not bool(valid[:, m].any()):
            continue
        (g,) = torch.autograd.grad(log_soc[:, m].sum(), p, retain_graph=True)
        J[:, m] = torch.where(valid[:, m, None], g[:, idx], torch.zeros(()))
    log_soc = torch.where(valid, log_soc.detach(), torch.full_like(log_soc, float("nan")))
    return J, log_soc


def laplace(J: torch.Tensor, sigma: float) -> dict[str, torch.Tensor]:
    """Fisher information and Laplace posterior of unit-scale parameters.

    Parameters
    ----------
    J : Tensor (n, obs, k)
        Jacobian of log observations (0 rows for missing ones).
    sigma : float
        sd of the observation errors in log space (0.1 = 10% log-normal).

    Returns
    -------
    dict of Tensor
        ``fisher`` (n, k, k), ``posterior_cov`` (n, k, k), ``posterior_sd`` (n, k),
        ``conditional_sd`` (n, k), ``correlation`` (n, k, k).
    """
    F = J.transpose(1, 2) @ J / sigma**2
    k = F.shape[-1]
    prec = F + torch.eye(k, dtype=F.dtype) / PRIOR_VARIANCE
    cov = torch.linalg.inv(prec)
    sd = torch.sqrt(torch.diagonal(cov, dim1=1, dim2=2))
    cond = 1.0 / torch.sqrt(torch.diagonal(prec, dim1=1, dim2=2))
    corr = cov / (sd[:, :, None] * sd[:, None, :])
    return {"fisher": F, "posterior_cov": cov, "posterior_sd": sd, "conditional_sd": cond,
            "correlation": corr}  # fmt: skip


def profile_chi2(
    model,
    p_unit: torch.Tensor,
    forcing,
    depth: torch.Tensor,
    index: Sequence[int],
    grid: Sequence[float],
    noise: float,
    iterations: int = 8,
) -> torch.Tensor:
    """Profile chi-square of each examined parameter on a grid, per site.

    For parameter ``j`` fixed at a grid value ``g``, the other examined parameters are
    re-fitted (Levenberg-Marquardt in the unit box, exact Jacobians) to the noise-free
    simulated observations at ``p_unit``; the misfit ``sum (log SOC - log SOC_fit)^2 /
    noise^2`` is the profile chi-square increase at ``g`` (zero at the site's own value).
    Two continuation sweeps along the grid, upward and downward, each start from
    ``p_unit`` and warm-start every grid value from the previous one, so a compensating
    mode connected along the grid is followed; the smaller of the two misfits is kept.
    Every iteration costs one reverse-mode Jacobian (a rejected step keeps the old one).

    Parameters
    ----------
    model : CLM5Model
    p_unit : Tensor (n, n_params), unit scale
    forcing : PreparedForcing (n sites)
    depth : Tensor (n, obs), m; NaN where there is no observation
    index : sequence of int (k,)
        Examined parameters (fixed one at a time, the others re-fitted).
    grid : sequence of float (G,) or Tensor (n, k, G)
        Unit-scale values at which each examined parameter is fixed, ascending; the same
        for every site, or per site and examined parameter.
    noise : float
        Log-space sd of the observation errors.
    iterations : int
        Levenberg-Marquardt iterations per grid value.

    Returns
    -------
    Tensor (n, k, G)
        Profile chi-square increase; NaN at sites without observations.
    """
    n, k = p_unit.shape[0], len(index)
    grid_t = torch.as_tensor(np.asarray(grid, dtype=float), dtype=torch.float64)
    if grid_t.ndim == 1:
        grid_t = grid_t.expand(n, k, len(grid_t))
    G = grid_t.shape[-1]
    idx = torch.as_tensor(list(index), dtype=torch.long)
    valid = torch.isfinite(depth)
    _, target = observation_jacobian(model, p_unit, forcing, depth, [])
    # rows: (direction, examined parameter, site)
    site = torch.arange(n).repeat(2 * k)
    fixed = torch.arange(k).repeat_interleave(n).repeat(2)
    up = torch.arange(2 * k * n) < k * n
    f, dep, ok_obs = forcing.select(site), depth[site], valid[site]
    y = torch.where(ok_obs, target[site], torch.zeros(()))
    free = torch.ones(len(site), k, dtype=torch.bool)
    free[torch.arange(len(site)), fixed] = False
    var = noise**2
    col = idx[fixed]
    rows = torch.arange(len(site))
    grid_rows = grid_t[site, fixed]  # (rows, G)

    def evaluate(q):
        J, ls = observation_jacobian(model, q, f, dep, index)
        r = torch.where(ok_obs, y - torch.nan_to_num(ls), torch.zeros(()))
        return J * free[:, None, :], r, (r**2).sum(1) / var

    cur = p_unit[site].to(torch.float64).clone()
    out = torch.empty(len(site), G, dtype=torch.float64)
    eye = torch.eye(k, dtype=torch.float64)
    lo, hi = 1e-4, 1 - 1e-4
    for step in range(G):
        at = torch.where(up, step, G - 1 - step)
        cur[rows, col] = grid_rows[rows, at].clamp(0.0, 1.0)
        J, r, chi = evaluate(cur)
        damp = torch.full((len(site),), 1e-2, dtype=torch.float64)
        for _ in range(iterations):
            g = (J.transpose(1, 2) @ r[..., None])[..., 0] / var
            H = J.transpose(1, 2) @ J / var
            x = cur[:, idx]  # a parameter on its bound and pushed outward stays there
            move = free & ~(((x <= lo) & (g < 0)) | ((x >= hi) & (g > 0)))
            H = H * (move[:, :, None] & move[:, None, :]) + torch.diag_embed(~move) * eye
            g = g * move
            D = torch.diag_embed(torch.diagonal(H, dim1=1, dim2=2)) + 1e-9 * eye
            delta = torch.linalg.solve(H + damp[:, None, None] * D + 1e-12 * eye, g) * move
            q = cur.clone()
            q[:, idx] = (x + delta).clamp(lo, hi)
            Jq, rq, chiq = evaluate(q)
            better = chiq < chi
            cur = torch.where(better[:, None], q, cur)
            J = torch.where(better[:, None, None], Jq, J)
            r = torch.where(better[:, None], rq, r)
            chi = torch.where(better, chiq, chi)
            damp = torch.where(better, damp / 3, damp * 4)
        out[rows, at] = chi
    out = torch.minimum(out[up], out[~up]).reshape(k, n, G).transpose(0, 1)
    return torch.where(valid.any(1)[:, None, None], out, torch.full_like(out, float("nan")))


def identifiability(
    ds: xr.Dataset,
    params_var: str = "true_params",
    learned: Sequence[str] | None = None,
    noise: float = 0.1,
    threshold: float = 0.1,
    preset: str | None = None,
    transport: str = "clm5",
    batch_size: int = 2048,
    profile: int = 0,
    profile_iterations: int = 8,
    progress: str | bool = "auto",
) -> xr.Dataset:
    """Per-site, per-parameter identifiability of ``ds``'s observation depths.

    Parameters
    ----------
    ds : Dataset
        Schema dataset with forcing, ``obs_depth`` (site, obs) and ``params_var``.
    params_var : str
        Unit-scale parameters (site, param) at which to linearise.
    learned : sequence of str, optional
        Parameters examined jointly (default all); the others are held at their values.
    noise : float
        Log-space sd of the observation errors.
    threshold : float
        Posterior sd (unit scale) below which a parameter counts as constrained.
    profile : int
        Number of grid values in [0.05, 0.95] for the profile likelihood (0: none), a
        global check of the local analysis (:func:`profile_chi2`; about 0.03 CPU s per
        site, examined parameter and grid value).
    profile_iterations : int
        Levenberg-Marquardt iterations per grid value.
    progress : {"auto", True, False}
        Progress of the profile computation (:func:`~soilbinn.training.progress.progress_enabled`).

    Returns
    -------
    Dataset
        ``posterior_sd``, ``conditional_sd`` (site, param) unit scale, ``constrained``
        (site, param) int8, ``correlation`` (site, param, param2), ``fisher`` (site, param,
        param2) per unit-scale parameter squared, ``n_obs`` (site,), and attributes with
        the settings; ``param`` holds the examined parameters only. With ``profile``,
        also ``profile_chi2`` (site, param, grid), ``distant_chi2`` (site, param): the
        smallest profile chi-square at ``2 threshold`` or farther from the site's value (the
        grid values beyond, and the two values at exactly that distance, so the result does
        not depend on where the grid falls),
        ``constrained_global`` (site, param) int8: constrained and ``distant_chi2`` at
        least the 95% point of chi-square(1), 3.84, and ``profile_lower`` /
        ``profile_upper`` (site, param): the smallest and largest of the grid values and
        the site's value whose chi-square increase is below 3.84.
    """
    from soilbinn.data.schema import forcing_from_dataset, params_from_dataset
    from soilbinn.process.model import CLM5Model

    preset = preset or ds[params_var].attrs.get("preset", "binn2025")
    model = CLM5Model(preset, transport=transport)
    names = list(model.space.names)
    learned = list(learned) if learned else names
    unknown = [n for n in learned if n not in names]
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; known: {names}")
    index = [names.index(n) for n in learned]
    if profile < 0 or 0 < profile < 3:
        raise ValueError(f"profile must be 0 or at least 3 grid values, not {profile}")
    forcing = model.prepare(forcing_from_dataset(ds))
    p = params_from_dataset(ds, params_var)
    depth = torch.from_numpy(np.asarray(ds["obs_depth"].transpose("site", "obs").values, float))
    if "soc" in ds.variables:  # only depths with an observation count
        soc = np.asarray(ds["soc"].transpose("site", "obs").values, float)
        depth = torch.where(torch.from_numpy(np.isfinite(soc)), depth, torch.nan)
    parts = []
    for s in range(0, p.shape[0], batch_size):
        sl = slice(s, min(s + batch_size, p.shape[0]))
        J, _ = observation_jacobian(model, p[sl], forcing.select(sl), depth[sl], index)
        parts.append(laplace(J, noise))
    res = {k: torch.cat([q[k] for q in parts]).numpy() for k in parts[0]}
    grid = np.linspace(0.05, 0.95, profile) if profile else None
    if profile:
        from soilbinn.training.progress import Progress, progress_enabled

        chunk = max(1, batch_size // (2 * len(index)))  # rows of the profile's batch
        prof, edges = [], []
        with Progress(p.shape[0], "profile likelihood", progress_enabled(progress)) as bar:
            for s in range(0, p.shape[0], chunk):
                sl = slice(s, min(s + chunk, p.shape[0]))
                v = p[sl][:, index]  # and at exactly 2 threshold either side of the value
                edge = torch.stack([v - 2 * threshold, v + 2 * threshold], -1)
                prof.append(profile_chi2(model, p[sl], forcing.select(sl), depth[sl], index,
                                         grid, noise, profile_iterations))  # fmt: skip
                edges.append(profile_chi2(model, p[sl], forcing.select(sl), depth[sl], index,
                                          edge, noise, profile_iterations))  # fmt: skip
                bar.update(sl.stop - sl.start)
        res["profile_chi2"] = torch.cat(prof).numpy()
        res["edge_chi2"] = torch.cat(edges).numpy()
    out = xr.Dataset(coords={"site": ds["site"].values, "param": learned,
                             "param2": ("param2", learned)})  # fmt: skip
    for c in ("lat", "lon"):
        if c in ds.coords:
            out = out.assign_coords({c: ds[c]})
    sd_attrs = {"units": "1", "prior_sd": float(np.sqrt(PRIOR_VARIANCE))}
    out["posterior_sd"] = (("site", "param"), res["posterior_sd"], {**sd_attrs,
        "long_name": "Laplace posterior sd of the unit-scale parameter (examined parameters jointly)"})  # fmt: skip
    out["conditional_sd"] = (("site", "param"), res["conditional_sd"], {**sd_attrs,
        "long_name": "posterior sd with the other examined parameters known"})  # fmt: skip
    out["constrained"] = (("site", "param"), (res["posterior_sd"] < threshold).astype(np.int8),
                          {"units": "1", "long_name": f"posterior_sd < {threshold}"})  # fmt: skip
    out["correlation"] = (("site", "param", "param2"), res["correlation"],
                          {"units": "1", "long_name": "Laplace posterior correlation"})  # fmt: skip
    out["fisher"] = (("site", "param", "param2"), res["fisher"],
                     {"units": "1", "long_name": "Fisher information of the unit-scale "
                      "parameters, J^T J / sigma^2"})  # fmt: skip
    out["n_obs"] = ("site", np.asarray(torch.isfinite(depth).sum(1)), {"units": "1"})
    if profile:
        _add_profile(out, res["profile_chi2"], res["edge_chi2"], grid, p[:, index].numpy(),
                     threshold, profile_iterations)  # fmt: skip
    out.attrs.update({
        "params_var": params_var, "preset": preset, "transport": transport,
        "noise_log_sd": float(noise), "threshold": float(threshold),
        "method": "Fisher information J^T J / sigma^2 of log SOC at the observation depths "
                  "(exact reverse-mode Jacobian) plus a N(., 1/12) prior; Laplace posterior",
    })  # fmt: skip
    return out


#: 95% point of the chi-square distribution with one degree of freedom
CHI2_95 = 3.841458820694124


def _add_profile(out: xr.Dataset, chi2: np.ndarray, edge: np.ndarray, grid: np.ndarray,
                 value: np.ndarray, threshold: float, iterations: int) -> None:  # fmt: skip
    """Profile-likelihood variables of :func:`identifiability` from ``chi2`` (n, k, G) on
    ``grid`` and ``edge`` (n, k, 2) at ``value -/+ 2 threshold``."""
    out.coords["grid"] = ("grid", grid, {"units": "1", "long_name": "unit-scale value at "
                                         "which the parameter is fixed"})  # fmt: skip
    out["profile_chi2"] = (("site", "param", "grid"), chi2, {"units": "1", "long_name":
        "profile chi-square increase: misfit of the noise-free observations with the "
        "parameter fixed at grid and the other examined parameters re-fitted",
        "iterations": int(iterations)})  # fmt: skip
    far = np.abs(grid[None, None, :] - value[:, :, None]) > 2 * threshold
    edge_in = np.stack([value - 2 * threshold, value + 2 * threshold], -1)
    edge_in = (edge_in >= 0.0) & (edge_in <= 1.0)  # the boundary of "distant" in the box
    distant = np.minimum(np.where(far, chi2, np.inf).min(-1),
                         np.where(edge_in, edge, np.inf).min(-1))  # fmt: skip
    known = np.isfinite(chi2).all(-1) & (far.any(-1) | edge_in.any(-1))
    distant = np.where(known, distant, np.nan)
    out["distant_chi2"] = (("site", "param"), distant, {"units": "1", "long_name":
        f"smallest profile chi-square increase {2 * threshold:g} or farther from the value"})  # fmt: skip
    ok = (out["constrained"].values == 1) & (distant >= CHI2_95)
    out["constrained_global"] = (("site", "param"), ok.astype(np.int8), {"units": "1",
        "long_name": f"constrained and distant_chi2 >= {CHI2_95:.2f} (no distant mode "
        "fits within the 95% level)"})  # fmt: skip
    inside = chi2 < CHI2_95
    cand = np.where(inside, grid[None, None, :], np.nan)
    known = np.where(np.isfinite(chi2).all(-1), value, np.nan)
    lower = np.fmin(np.fmin.reduce(cand, axis=-1), value) + 0 * known
    upper = np.fmax(np.fmax.reduce(cand, axis=-1), value) + 0 * known
    for name, v, what in (("profile_lower", lower, "smallest"), ("profile_upper", upper, "largest")):  # fmt: skip
        out[name] = (("site", "param"), v, {"units": "1", "long_name": f"{what} of the grid "
                     "values and the site's value with profile chi-square increase < 3.84"})  # fmt: skip


def site_information_r2(fisher: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """Expected R2 of each site's own posterior mean under a population prior.

    With the parameters drawn across sites from a Gaussian of variance ``variance`` and the
    linearised observation model of Fisher information ``F_i``, the posterior covariance
    at site ``i`` is ``C_i = (F_i + diag(1 / variance))^-1`` and the expected R2 of the
    posterior means over the sites is ``1 - mean_i C_i[j, j] / variance[j]``: the share of
    the between-site variance that each site's observations resolve on their own (0 without
    information, 1 with perfect). Retrieval from covariates can exceed it by pooling sites.

    Parameters
    ----------
    fisher : array (n, k, k)
        Per-site Fisher information of the unit-scale parameters (``ident["fisher"]``).
    variance : array (k,)
        Between-site variance of the unit-scale parameters (e.g. of the truth).

    Returns
    -------
    array (k,)
        Expected R2 per parameter; NaN where ``variance`` is not positive.
    """
    fisher = np.asarray(fisher, dtype=float)
    variance = np.asarray(variance, dtype=float)
    ok = variance > 0
    out = np.full(variance.shape, np.nan)
    if not ok.any():
        return out
    sub = fisher[:, ok][:, :, ok]
    post = np.linalg.inv(sub + np.diag(1.0 / variance[ok]))
    out[ok] = 1.0 - np.diagonal(post, axis1=1, axis2=2).mean(0) / variance[ok]
    return out


def summary(ident: xr.Dataset, variance: np.ndarray | None = None) -> pd.DataFrame:
    """Per parameter: fraction of sites constrained, median posterior and conditional sd,
    with a profile the fraction constrained globally and the median width of the profile
    interval, and with ``variance`` (k,) the :func:`site_information_r2`."""
    df = pd.DataFrame({
        "fraction_constrained": ident["constrained"].mean("site").values,
        "median_posterior_sd": ident["posterior_sd"].median("site").values,
        "median_conditional_sd": ident["conditional_sd"].median("site").values,
    }, index=pd.Index([str(p) for p in ident["param"].values], name="parameter"))  # fmt: skip
    if "constrained_global" in ident:
        df["fraction_constrained_global"] = ident["constrained_global"].mean("site").values
        df["median_profile_width"] = (ident["profile_upper"] - ident["profile_lower"]).median(
            "site").values  # fmt: skip
    if variance is not None:
        df["site_information_r2"] = site_information_r2(ident["fisher"].values, variance)
    return df


def figure(ident: xr.Dataset, path: str | Path) -> Path:
    """Box plots of the posterior sd per parameter with the threshold and fraction
    constrained; with a profile, beside them the width of the 95% profile interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [str(p) for p in ident["param"].values]
    sd = ident["posterior_sd"].values
    frac = ident["constrained"].mean("site").values
    prof = "profile_upper" in ident
    width = max(5, 0.55 * len(names) + 2)
    fig, axes = plt.subplots(1, 2 if prof else 1, figsize=(width * (2 if prof else 1), 3.6))
    ax = axes[0] if prof else axes
    ax.boxplot([sd[:, j] for j in range(len(names))], showfliers=False)
    ax.axhline(ident.attrs["threshold"], color="r", lw=0.8, ls="--", label="threshold")
    ax.axhline(np.sqrt(PRIOR_VARIANCE), color="k", lw=0.6, ls=":", label="prior sd")
    ax.set_xticks(np.arange(1, len(names) + 1))
    ax.set_xticklabels([f"{n}\n{100 * f:.0f}%" for n, f in zip(names, frac)], fontsize=7,
                       rotation=45, ha="right")  # fmt: skip
    ax.set_ylabel("posterior sd (unit scale)")
    ax.set_yscale("log")
    ax.set_title(f"identifiability ({ident.sizes['site']} sites; % = sites constrained)",
                 fontsize=9)  # fmt: skip
    ax.legend(fontsize=7)
    if prof:
        ax = axes[1]
        span = (ident["profile_upper"] - ident["profile_lower"]).values
        glob = ident["constrained_global"].mean("site").values
        ax.boxplot([span[np.isfinite(span[:, j]), j] for j in range(len(names))],
                   showfliers=False)  # fmt: skip
        ax.axhline(4 * ident.attrs["threshold"], color="r", lw=0.8, ls="--",
                   label="4 x threshold (the local 95% width)")  # fmt: skip
        ax.set_xticks(np.arange(1, len(names) + 1))
        ax.set_xticklabels([f"{n}\n{100 * f:.0f}%" for n, f in zip(names, glob)], fontsize=7,
                           rotation=45, ha="right")  # fmt: skip
        ax.set_ylabel("width of the 95% profile interval (unit scale)")
        ax.set_ylim(0, 1)
        ax.set_title("profile likelihood (% = sites constrained globally)", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------- command


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="dataset NetCDF with forcing, obs_depth and parameters")
    p.add_argument("--out", required=True, help="output NetCDF (a figure is written beside it)")
    p.add_argument("--params-var", default=None,
                   help="parameters (site, param) at which to linearise (default true_params, "
                        "or params with --params-from)")  # fmt: skip
    p.add_argument("--params-from", default=None, metavar="FILE",
                   help="take the parameters from FILE (e.g. the output of soilbinn predict), "
                        "matched by site id, instead of from DATA")  # fmt: skip
    p.add_argument("--learned", default=None,
                   help="comma-separated parameters examined jointly (default: all 21)")  # fmt: skip
    p.add_argument("--noise", type=float, default=0.1,
                   help="sd of the observation errors in log space (default 0.1 = 10%%)")  # fmt: skip
    p.add_argument("--threshold", type=float, default=0.1,
                   help="posterior sd (unit scale) below which a parameter is constrained")  # fmt: skip
    p.add_argument("--preset", choices=["binn2025", "proda2023"], default=None,
                   help="parameter ranges (default: the params variable's preset attribute)")  # fmt: skip
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="also the profile likelihood on N grid values per examined parameter, "
                        "a global check of the local analysis (e.g. 10; about 0.03 CPU s "
                        "per site, parameter and grid value; default 0: none)")  # fmt: skip
    p.add_argument("--max-sites", type=int, default=None, metavar="N",
                   help="a random subsample (seed 0) of N of the sites with SOC observations")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def _subsample(ds: xr.Dataset, n: int) -> xr.Dataset:
    """``n`` sites drawn at random (seed 0) from those with at least one SOC observation."""
    depth = np.asarray(ds["obs_depth"].transpose("site", "obs").values, float)
    ok = np.isfinite(depth)
    if "soc" in ds.variables:
        ok &= np.isfinite(np.asarray(ds["soc"].transpose("site", "obs").values, float))
    rows = np.flatnonzero(ok.any(1))
    if len(rows) > n:
        rows = np.sort(np.random.default_rng(0).choice(rows, n, replace=False))
    return ds.isel(site=rows)


def _with_params_from(ds: xr.Dataset, path: str, var: str) -> xr.Dataset:
    """``ds`` with ``var`` (site, param) taken from the file ``path``, matched by site id."""
    from soilbinn.data.schema import DatasetError

    with xr.open_dataset(path) as src:
        if var not in src.variables or set(src[var].dims) != {"site", "param"}:
            raise DatasetError([f"no variable {var!r} (site, param)"], path)
        ids = [str(s) for s in src["site"].values]
        missing = sorted(set(map(str, ds["site"].values)) - set(ids))
        if missing:
            raise DatasetError([f"{len(missing)} site(s) of the data are missing, e.g. "
                                f"{', '.join(missing[:3])}"], path)  # fmt: skip
        if "param" in ds.coords and list(map(str, src["param"].values)) != list(
                map(str, ds["param"].values)):  # fmt: skip
            raise DatasetError(["its param coordinate differs from the data's"], path)
        values = src[var].transpose("site", "param").sel(site=ds["site"].values).load()
        if not np.isfinite(values.values).all():
            bad = values["site"].values[~np.isfinite(values.values).all(1)]
            raise DatasetError([f"{var} not finite at {len(bad)} site(s), e.g. {bad[0]}"], path)
    if "param" not in ds.coords:  # data without parameters of their own (e.g. observations)
        ds = ds.assign_coords(param=("param", values["param"].values))
    return ds.assign({var: (("site", "param"), values.values, dict(values.attrs))})


def _run(args: argparse.Namespace) -> int:
    from soilbinn.data.schema import DatasetError, load_dataset, save_dataset

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        print(f"soilbinn identifiability: {out} exists (use --overwrite)", file=sys.stderr)
        return 1
    if not args.noise > 0 or not args.threshold > 0:
        print("soilbinn identifiability: --noise and --threshold must be > 0", file=sys.stderr)
        return 2
    if args.profile and args.profile < 3 or args.profile < 0:
        print("soilbinn identifiability: --profile must be 0 or at least 3", file=sys.stderr)
        return 2
    try:
        ds = load_dataset(args.data, require=("forcing",))
        if "obs_depth" not in ds.variables:
            raise DatasetError(["no variable 'obs_depth'"], args.data)
        params_var = args.params_var or ("params" if args.params_from else "true_params")
        if args.max_sites is not None:
            if args.max_sites < 1:
                raise ValueError("--max-sites must be at least 1")
            ds = _subsample(ds, args.max_sites)
        if args.params_from:
            ds = _with_params_from(ds, args.params_from, params_var)
        elif params_var not in ds.variables:
            raise DatasetError([f"no variable {params_var!r}"], args.data)
        learned = [s.strip() for s in args.learned.split(",")] if args.learned else None
        ident = identifiability(ds, params_var, learned, args.noise, args.threshold,
                                args.preset, profile=args.profile)  # fmt: skip
    except (DatasetError, FileNotFoundError, OSError, ValueError) as e:
        print(f"soilbinn identifiability: {args.data}: {e}", file=sys.stderr)
        return 1
    save_dataset(ident, out)
    fig = figure(ident, out.with_suffix(".png"))
    names = [str(p) for p in ds["param"].values] if "param" in ds.coords else []
    variance = None
    if all(str(p) in names for p in ident["param"].values):  # between-site spread of params_var
        cols = [names.index(str(p)) for p in ident["param"].values]
        variance = np.nanvar(
            np.asarray(ds[params_var].transpose("site", "param").values, float)[:, cols],
            axis=0,
        )
    print(summary(ident, variance).round(3).to_string())
    print(f"wrote {out} and {fig}")
    return 0


COMMANDS = {
    "identifiability": Command(
        _configure, _run, "which parameters the observations constrain (Fisher / Laplace)"
    )
}
