"""PRODA step 1: per-site Bayesian retrieval of process parameters, batched over sites.

All chains of all sites form one batch: every MCMC step costs one batched process-model
call for ``sites x chains`` parameter vectors. :func:`retrieve` returns an xarray Dataset
(written by :func:`save_retrieval`) with the posterior summaries PRODA keeps and
diagnostics:

- ``params`` (site, param): posterior mean on the unit scale (what PRODA's network is
  trained on), ``params_std``, ``params_mode`` (kernel-density mode; PRODA fits a GEV),
  ``rhat`` (split R-hat across chains), ``gelman_rubin`` (PRODA's, not split), ``ess``
  (effective sample size);
- ``samples`` (site, chain, draw, param): the recorded second-half samples;
- ``acceptance_rate``, ``gaussian_restarts``, ``uniform_restarts`` (site, chain);
- ``best_chain``, ``fit_r2``, ``proda_r2``, ``fit_rmse``, ``cost_at_mean``, ``converged``,
  ``proda_filter``, ``profile_shape_ok``, ``ill_conditioned_proposals``,
  ``n_evaluations`` (site); ``soc_fit`` (site, obs) at the posterior mean.

Summaries (:data:`SUMMARIES`): ``best_chain`` is PRODA's rule (the chain whose posterior
mean fits the observations with the lowest RMSE; PRODA ranks chains by the mean of their
simulated profiles, we evaluate the model at each chain's mean parameters), ``pooled``
uses all chains (the right summary of a proper posterior sampler). The default is
``best_chain`` for ``faithful`` and ``pooled`` for ``metropolis`` mode. Samples are the
*accepted* proposals of the Gaussian phase in ``faithful`` mode (as PRODA) and the chain
states in ``metropolis`` mode. ``converged``: mean split R-hat < 1.05 over the sampled
parameters. ``proda_filter``: PRODA's site filter before its network step
(:data:`PRODA_SITE_FILTER`: ``proda_r2`` > 0.75, mean ``gelman_rubin`` < 1.05, deepest
observation > 0.5 m, ``profile_shape_ok``). ``fit_r2`` is the usual coefficient of
determination at the posterior mean; ``proda_r2`` PRODA's own statistic (see
:func:`_fit_stats`). ``ill_conditioned_proposals`` counts the rejected singular proposals.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from soilbinn.process.observation import DepthInterpolator
from soilbinn.process.parameters import ParameterSpace
from soilbinn.proda import diagnostics
from soilbinn.proda.cost import Observations, prepare_observations, proda_cost
from soilbinn.proda.kernels import KernelConfig
from soilbinn.proda.sampler import ChainResult, run_chains

Tensor = torch.Tensor


#: PRODA's site filter before its network step (``data_cleansing_before_nn.m``): PRODA's R2
#: above 0.75, mean Gelman-Rubin below 1.05, profile deeper than 50 cm, SOC shape checks
PRODA_SITE_FILTER = {"r2": 0.75, "gelman_rubin": 1.05, "depth_m": 0.5, "shape": True}


class RetrievalConfigError(ValueError):
    """Invalid retrieval settings (unknown key, parameter name or value)."""


@dataclass(frozen=True)
class RetrievalConfig:
    """Settings of a PRODA retrieval (defaults: PRODA's schedule, 3 chains from 0.5).

    ``preset``: parameter ranges (None: the dataset's ``params`` preset, else proda2023).
    ``free_params``: names to sample (None: all); the others are fixed at the values of
    the dataset variable ``fixed_from``. ``summary``: ``best_chain`` | ``pooled`` | None
    (by mode). ``obs_error``: relative observation error of the cost (PRODA: 0.6).
    ``site_batch``: sites per batched run (bounds memory: ~0.3 MB per site at n_keep=1000).
    ``n_keep``: recorded samples per chain (thinned evenly). ``max_gaussian_restarts``,
    ``uniform_exhausted``, ``stuck_redraw``, ``gaussian_start_cost``: see
    :class:`~soilbinn.proda.kernels.KernelConfig` (defaults: PRODA's behaviour).
    ``site_filter``: thresholds of PRODA's site filter (:data:`PRODA_SITE_FILTER`; keys
    ``r2``, ``gelman_rubin``, ``depth_m``, ``shape``), written as ``proda_filter``.
    """

    mode: str = "faithful"
    n_uniform: int = 20_000
    n_gaussian: int = 50_000
    n_chains: int = 3
    seed: int = 0
    preset: str | None = None
    transport: str = "clm5"
    free_params: tuple[str, ...] | None = None
    fixed_from: str = "params"
    p0: float = 0.5
    n_keep: int = 1000
    summary: str | None = None
    adapt_start: int | None = None
    adapt_every: int = 1
    interpolation: str = "pchip"
    obs_error: float = 0.6
    checkpoint_every: int = 5000
    site_batch: int = 256
    max_gaussian_restarts: int = 5
    uniform_exhausted: str = "restart_chain"
    stuck_redraw: str = "restart_chain"
    gaussian_start_cost: str = "current"
    site_filter: dict | None = None

    def __post_init__(self) -> None:
        f = dict(PRODA_SITE_FILTER)
        unknown = set(self.site_filter or {}) - set(f)
        if unknown:
            raise RetrievalConfigError(f"unknown site_filter key(s): {sorted(unknown)}")
        f.update(self.site_filter or {})
        object.__setattr__(self, "site_filter", f)

    @classmethod
    def from_dict(cls, d: dict) -> RetrievalConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise RetrievalConfigError(f"unknown retrieval setting(s): {sorted(unknown)}")
        d = dict(d)
        if d.get("free_params") is not None:
            d["free_params"] = tuple(d["free_params"])
        return cls(**d)

    def kernel(self) -> KernelConfig:
        return KernelConfig(
            mode=self.mode,
            n_uniform=self.n_uniform,
            n_gaussian=self.n_gaussian,
            adapt_start=self.adapt_start,
            adapt_every=self.adapt_every,
            max_gaussian_restarts=self.max_gaussian_restarts,
            uniform_exhausted=self.uniform_exhausted,
            stuck_redraw=self.stuck_redraw,
            gaussian_start_cost=self.gaussian_start_cost,
        )

    def summary_rule(self) -> str:
        s = self.summary or {"faithful": "best_chain", "metropolis": "pooled"}[self.mode]
        if s not in SUMMARIES:
            raise RetrievalConfigError(f"unknown summary {s!r}; choose from {sorted(SUMMARIES)}")
        return s


SUMMARIES = ("best_chain", "pooled")


class SiteCost:
    """Batched PRODA cost over rows = (site, chain) pairs; one model call per evaluation.

    Parameters
    ----------
    model : CLM5Model
    prepared : PreparedForcing of the S sites
    obs : Observations of the S sites
    base : Tensor (S, n_params) unit-scale values of every parameter (fixed ones used)
    free : Tensor (d,) int64, indices of the sampled parameters
    n_chains : int

    As in PRODA (which adds 100 to the cost when MATLAB's solve warns that the matrix is
    singular or nearly singular, i.e. LAPACK's reciprocal condition estimate is below
    machine epsilon), a proposal whose steady state is ill-conditioned (exact 1-norm
    reciprocal condition number below machine epsilon, ``CLM5Model`` output
    ``ill_conditioned``, always computed) is rejected: its cost is ``+inf``.
    ``n_ill`` (rows,) counts the ill-conditioned proposals of each row.
    """

    def __init__(
        self, model, prepared, obs: Observations, base, free, n_chains, interpolation, obs_error
    ):
        self.model, self.prepared, self.obs = model, prepared, obs
        self.base, self.free, self.n_chains = base, free, n_chains
        self.interpolation, self.obs_error = interpolation, obs_error
        self._rows: Tensor | None = None
        self._cache = None
        self.n_calls = 0
        self.n_ill = torch.zeros(len(obs.soc) * n_chains, dtype=torch.int64)

    def _select(self, rows: Tensor):
        if self._rows is None or not torch.equal(self._rows, rows):
            site = rows // self.n_chains
            obs = self.obs.select(site)
            interp = DepthInterpolator(obs.depth, self.interpolation)
            self._rows = rows.clone()
            self._cache = (self.prepared.select(site), obs, self.base[site], interp)
        return self._cache

    def full_params(self, x: Tensor, base: Tensor) -> Tensor:
        p = base.clone()
        p[:, self.free] = x
        return p

    def simulate(self, x: Tensor, rows: Tensor) -> Tensor:
        """Model SOC at the observed depths (m, obs) for free values ``x`` (m, d)."""
        prepared, obs, base, interp = self._select(rows)
        with torch.no_grad():
            out = self.model.steady_state(self.full_params(x, base), prepared)
            self.n_calls += 1
            at = interp(out["pools"][:, 4:7].sum(dim=1))  # SOC = S1 + S2 + S3
            ill = out["ill_conditioned"]  # rejected, as PRODA does
            self.n_ill.index_add_(0, rows, ill.long())
            at = at.masked_fill(ill[:, None], torch.inf)
            return at.masked_fill(interp.nan, float("nan"))

    def __call__(self, x: Tensor, rows: Tensor) -> Tensor:
        _, obs, _, _ = self._select(rows)
        return proda_cost(self.simulate(x, rows), obs, self.obs_error)


def _kde_mode(samples: np.ndarray, grid_n: int = 201) -> np.ndarray:
    """Mode of a Gaussian kernel density estimate (Scott's bandwidth) per column.

    samples (k, d) -> (d,), NaN for columns without samples.
    """
    k = samples.shape[0]
    if k < 2:
        return np.full(samples.shape[1], np.nan) if k == 0 else samples[0].copy()
    g = np.linspace(0.0, 1.0, grid_n)
    sd = samples.std(0, ddof=1)
    h = np.maximum(sd * k ** (-0.2), 1e-4)
    dens = np.exp(-0.5 * ((g[:, None, None] - samples[None]) / h) ** 2).sum(1)  # (grid, d)
    return g[np.argmax(dens, axis=0)]


def _fit_stats(model_at_obs: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, ...]:
    """Fit statistics per row of (n, obs) arrays (NaN-padded observations).

    Returns ``(r2, rmse, r2_proda)``: ``r2 = 1 - SSres / SStot`` with ``SStot`` about the
    mean of the *observations* (the coefficient of determination); ``r2_proda`` is PRODA's
    statistic, the same with ``SStot`` about the mean of the *model* values (its MCMC
    driver computes it so, and its network step keeps sites with ``r2_proda > 0.75``);
    ``rmse`` over the valid observations.
    """
    valid = np.isfinite(obs)
    m = np.where(valid, model_at_obs, np.nan)
    o = np.where(valid, obs, np.nan)
    n = valid.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rmse = np.sqrt(np.nansum((o - m) ** 2, 1) / n)
        ss_res = np.nansum((m - o) ** 2, 1)
        ss_tot = np.nansum((o - np.nanmean(o, 1, keepdims=True)) ** 2, 1)
        ss_mod = np.nansum((m - np.nanmean(m, 1, keepdims=True)) ** 2, 1)
        r2 = np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.nan)
        r2_proda = np.where(ss_mod > 0, 1.0 - ss_res / ss_mod, np.nan)
    bad = ~np.isfinite(ss_res)
    return np.where(bad, np.nan, r2), np.where(bad, np.nan, rmse), np.where(bad, np.nan, r2_proda)


def profile_shape_ok(soc: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """PRODA's profile checks before its network step (``data_cleansing_before_nn.m``).

    A profile (row of NaN-padded SOC g m-3 and depth m) is kept when it has at least two
    valid layers, SOC does not correlate positively with depth, the largest SOC is not in
    the deepest layer and the first layer's SOC exceeds the last layer's. Returns (n,) bool.
    """
    out = np.zeros(soc.shape[0], bool)
    for i in range(soc.shape[0]):
        v = np.isfinite(soc[i]) & np.isfinite(depth[i])
        o, z = soc[i, v], depth[i, v]
        if len(o) < 2:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.corrcoef(o, z)[0, 1]
        out[i] = not (r > 0) and int(np.argmax(o)) != len(o) - 1 and o[0] > o[-1]
    return out


def retrieve(
    ds: xr.Dataset,
    config: RetrievalConfig = RetrievalConfig(),  # noqa: B008 (frozen dataclass)
    checkpoint: str | os.PathLike | None = None,
    stop_after: int | None = None,
    progress=None,
) -> xr.Dataset | None:
    """Run PRODA's retrieval on every site of ``ds``, ``site_batch`` sites per batch.

    Batch ``i`` uses seed ``config.seed + i``. With a checkpoint path, finished batches
    are kept as ``<checkpoint stem>.batchNNNN.nc`` beside it and skipped on resume
    (``stop_after`` applies to the batch being run). See :func:`retrieve_batch`.
    """
    from dataclasses import replace

    n = ds.sizes["site"]
    size = max(1, config.site_batch)
    if n <= size:
        return retrieve_batch(ds, config, checkpoint, stop_after, progress)
    t0 = time.perf_counter()
    parts = []
    for i, start in enumerate(range(0, n, size)):
        sub = ds.isel(site=slice(start, min(start + size, n)))
        cfg = replace(config, seed=config.seed + i)
        ck = done = None
        if checkpoint is not None:
            ck = Path(checkpoint).with_name(f"{Path(checkpoint).stem}.batch{i:04d}.pt")
            done = ck.with_suffix(".nc")
            if done.exists():
                parts.append(xr.load_dataset(done))
                continue
        prog = progress
        if progress is not False:
            from soilbinn.proda.sampler import Progress

            prog = Progress(f"proda batch {i + 1}/{-(-n // size)} (sites {start + 1}-"
                            f"{min(start + size, n)} of {n})")  # fmt: skip
        res = retrieve_batch(sub, cfg, ck, stop_after, prog)
        if res is None:
            return None
        if done is not None:
            save_retrieval(res, done)
        parts.append(res)
    draws = max(p.sizes["draw"] for p in parts)
    obs = max(p.sizes["obs"] for p in parts)
    parts = [p.reindex(draw=np.arange(draws), obs=np.arange(obs)) for p in parts]
    out = xr.concat(parts, dim="site", data_vars="minimal", coords="minimal", compat="override",
                    combine_attrs="override")  # fmt: skip
    out.attrs["n_model_evaluations"] = int(out["n_evaluations"].sum())
    out.attrs["wall_time_s"] = round(time.perf_counter() - t0, 3)
    out.attrs["sampling_time_s"] = round(sum(float(p.attrs["sampling_time_s"]) for p in parts), 3)
    out.attrs["site_batches"] = len(parts)
    return out


def build_cost(ds: xr.Dataset, config: RetrievalConfig):
    """PRODA's batched cost for the sites of ``ds``.

    Returns ``(cost, space, free_names, obs)``: a :class:`SiteCost` over ``sites x
    chains`` rows (row ``i`` is site ``i // n_chains``), the parameter space, the names of
    the sampled parameters and the prepared :class:`Observations`.
    """
    from soilbinn.data.schema import check_dataset, forcing_from_dataset, observations_from_dataset
    from soilbinn.process.model import CLM5Model

    check_dataset(ds, ("forcing", "observations"))
    preset = config.preset or (
        ds["params"].attrs.get("preset", "proda2023") if "params" in ds else "proda2023"
    )
    space = ParameterSpace.from_preset(preset, config.transport)
    free_names = list(config.free_params) if config.free_params is not None else list(space.names)
    unknown = [n for n in free_names if n not in space.names]
    if unknown:
        raise RetrievalConfigError(f"free_params {unknown} are not parameters of {space.names}")
    free = torch.tensor([space.index(n) for n in free_names], dtype=torch.int64)
    n_sites, n_chains = ds.sizes["site"], config.n_chains
    site_ids = [str(s) for s in ds["site"].values]
    if len(free_names) < space.n:
        if config.fixed_from not in ds:
            raise RetrievalConfigError(
                f"parameters {sorted(set(space.names) - set(free_names))} are fixed but the "
                f"dataset has no variable {config.fixed_from!r} to take their values from"
            )
        base = torch.from_numpy(
            np.asarray(ds[config.fixed_from].transpose("site", "param").values, np.float64)
        )
    else:
        base = torch.full((n_sites, space.n), 0.5, dtype=torch.float64)

    model = CLM5Model(space=space, transport=config.transport, check_conditioning=True)
    forcing = forcing_from_dataset(ds)
    prepared = model.prepare(forcing)
    soc, depth = observations_from_dataset(ds)
    obs = prepare_observations(soc, depth, site_ids)
    cost = SiteCost(
        model, prepared, obs, base, free, n_chains, config.interpolation, config.obs_error
    )

    return cost, space, free_names, obs


def retrieve_batch(
    ds: xr.Dataset,
    config: RetrievalConfig = RetrievalConfig(),  # noqa: B008 (frozen dataclass)
    checkpoint: str | os.PathLike | None = None,
    stop_after: int | None = None,
    progress=None,
) -> xr.Dataset | None:
    """Run PRODA's retrieval on every site of ``ds`` (forcing + observations) at once.

    Parameters
    ----------
    ds : xarray.Dataset
        soilbinn dataset with forcing and observations (``soc``, ``obs_depth``).
    config : RetrievalConfig
    checkpoint : path, optional
        Resume from / write to this file (see :func:`soilbinn.proda.sampler.run_chains`).
    stop_after : int, optional
        Stop after this many MCMC steps (checkpoint written), returning ``None``.
    progress : bool or :class:`~soilbinn.proda.sampler.Progress`, optional
        Progress on stderr (default on: a bar on a terminal, log lines otherwise).

    Returns
    -------
    xarray.Dataset of posterior summaries and diagnostics (module docstring).
    """
    t0 = time.perf_counter()
    cost, space, free_names, obs = build_cost(ds, config)
    n_sites, n_chains = ds.sizes["site"], config.n_chains
    site_ids = [str(x) for x in ds["site"].values]
    preset = space.preset
    d = len(free_names)
    p0 = torch.full((n_sites * n_chains, d), config.p0, dtype=torch.float64)
    key = json.dumps({"sites": site_ids, "free": free_names, "preset": preset})
    res = run_chains(
        p0, cost, config.kernel(), seed=config.seed, n_keep=config.n_keep,
        checkpoint=checkpoint, checkpoint_every=config.checkpoint_every,
        stop_after=stop_after, progress=progress, run_key=key,
    )  # fmt: skip
    if res is None:
        return None
    out = summarise(res, cost, config, space, free_names, ds, obs)
    out.attrs["wall_time_s"] = round(time.perf_counter() - t0, 3)
    out.attrs["sampling_time_s"] = round(res.wall_time, 3)
    return out


def summarise(
    res: ChainResult,
    cost: SiteCost,
    config: RetrievalConfig,
    space: ParameterSpace,
    free_names: list[str],
    ds: xr.Dataset,
    obs: Observations,
) -> xr.Dataset:
    """Posterior summaries, diagnostics and fit of a finished retrieval (see module doc)."""
    n_sites, n_chains = ds.sizes["site"], config.n_chains
    d = len(free_names)
    n_ill = cost.n_ill.numpy().reshape(n_sites, n_chains).sum(1)
    halves = res.second_half()
    # per-chain means of the second half -> best chain by RMSE of the fit at that mean
    chain_mean = torch.stack(
        [h.mean(0) if h.shape[0] else res.state.position[b] for b, h in enumerate(halves)]
    )
    rows = torch.arange(n_sites * n_chains)
    soc_obs = obs.soc.numpy()
    chain_fit = cost.simulate(chain_mean, rows).numpy()
    _, chain_rmse, chain_r2p = _fit_stats(chain_fit, np.repeat(soc_obs, n_chains, axis=0))
    chain_rmse = np.where(np.isfinite(chain_rmse), chain_rmse, np.inf).reshape(n_sites, n_chains)
    chain_r2p = chain_r2p.reshape(n_sites, n_chains)
    with np.errstate(all="ignore"):
        r2_proda = np.where(np.isfinite(chain_r2p).any(1), np.nanmax(
            np.where(np.isfinite(chain_r2p), chain_r2p, -np.inf), 1), np.nan)  # fmt: skip
    best = np.argmin(chain_rmse, axis=1)
    rule = config.summary_rule()

    mean = np.full((n_sites, d), np.nan)
    std = np.full((n_sites, d), np.nan)
    mode = np.full((n_sites, d), np.nan)
    rh = np.full((n_sites, d), np.nan)
    gr = np.full((n_sites, d), np.nan)
    es = np.full((n_sites, d), np.nan)
    n_draw = max(1, max(h.shape[0] for h in halves))
    samples = np.full((n_sites, n_chains, n_draw, d), np.nan, dtype=np.float32)
    for s in range(n_sites):
        hs = [halves[s * n_chains + c].numpy() for c in range(n_chains)]
        for c, h in enumerate(hs):
            samples[s, c, : h.shape[0]] = h
        use = hs[best[s]] if rule == "best_chain" else np.concatenate(hs)
        if use.shape[0]:
            mean[s] = use.mean(0)
            std[s] = use.std(0, ddof=1) if use.shape[0] > 1 else 0.0
            mode[s] = _kde_mode(use)
        n_common = min(h.shape[0] for h in hs)
        if n_common >= 4:
            dr = np.stack([h[h.shape[0] - n_common :] for h in hs])  # (C, n, d)
            dr = np.moveaxis(dr, -1, 0)  # (d, C, n)
            rh[s] = diagnostics.rhat(dr)
            gr[s] = diagnostics.gelman_rubin_proda(dr)
            es[s] = diagnostics.ess(dr)
    free_idx = cost.free
    full_mean = cost.base.clone()
    full_mean[:, free_idx] = torch.from_numpy(np.where(np.isfinite(mean), mean, 0.5))
    fit = cost.simulate(torch.from_numpy(np.where(np.isfinite(mean), mean, 0.5)),
                        torch.arange(n_sites) * n_chains)  # fmt: skip
    # simulate() selects by row // n_chains; rows s * n_chains give site s
    fit = fit.numpy()
    r2, rmse, _ = _fit_stats(fit, soc_obs)
    cost_mean = proda_cost(torch.from_numpy(fit), obs, config.obs_error).numpy()

    def full(a: np.ndarray) -> np.ndarray:
        out = np.full((n_sites, space.n), np.nan)
        out[:, free_idx.numpy()] = a
        return out

    acc = res.acceptance_rate.numpy().reshape(n_sites, n_chains)
    coords = {
        "site": ds["site"].values,
        "chain": np.arange(n_chains),
        "draw": np.arange(n_draw),
        "param": np.asarray(space.names, dtype=str),
        "free_param": np.asarray(free_names, dtype=str),
        "obs": np.arange(obs.soc.shape[1]),
    }
    for c in ("lat", "lon"):
        if c in ds:
            coords[c] = ("site", np.asarray(ds[c].values, float), dict(ds[c].attrs))
    unit = {"units": "1"}
    out = xr.Dataset(coords=coords)
    out["params"] = (("site", "param"), full_mean.numpy(),
                     {**unit, "long_name": "PRODA posterior mean (unit scale; fixed parameters at their given values)",
                      "preset": space.preset})  # fmt: skip
    out["params_std"] = (
        ("site", "param"),
        full(std),
        {**unit, "long_name": "posterior standard deviation (unit scale)"},
    )
    out["params_mode"] = (
        ("site", "param"),
        full(mode),
        {**unit, "long_name": "posterior mode (kernel density, unit scale)"},
    )
    out["rhat"] = (("site", "param"), full(rh), {**unit, "long_name": "split R-hat across chains"})
    out["ess"] = (
        ("site", "param"),
        full(es),
        {**unit, "long_name": "effective sample size (all chains)"},
    )
    out["samples"] = (("site", "chain", "draw", "free_param"), samples,
                      {**unit, "long_name": "recorded samples, second half (unit scale; NaN padded)"})  # fmt: skip
    out["acceptance_rate"] = (
        ("site", "chain"),
        acc,
        {**unit, "long_name": "acceptance rate of the final Gaussian phase"},
    )
    out["gaussian_restarts"] = (("site", "chain"), res.state.gaussian_restarts.numpy().reshape(n_sites, n_chains).astype(np.int32),
                                {**unit, "long_name": "chain restarts for acceptance outside 10-50%"})  # fmt: skip
    out["uniform_restarts"] = (("site", "chain"), res.state.uniform_restarts.numpy().reshape(n_sites, n_chains).astype(np.int32),
                               {**unit, "long_name": "restarts of the last uniform phase (too few acceptances)"})  # fmt: skip
    out["chain_rmse"] = (
        ("site", "chain"),
        chain_rmse,
        {"units": "g m-3", "long_name": "RMSE of the fit at each chain's mean"},
    )
    out["best_chain"] = (
        "site",
        best.astype(np.int32),
        {**unit, "long_name": "chain with the lowest RMSE (PRODA's rule)"},
    )
    out["fit_r2"] = (
        "site",
        r2,
        {**unit, "long_name": "R2 of SOC at the posterior mean (1 - SSres/SStot, SStot about "
         "the observed mean)"},
    )  # fmt: skip
    out["fit_rmse"] = (
        "site",
        rmse,
        {"units": "g m-3", "long_name": "RMSE of SOC at the posterior mean"},
    )
    out["cost_at_mean"] = (
        "site",
        cost_mean,
        {**unit, "long_name": "PRODA cost J at the posterior mean"},
    )

    def mean_over_params(a: np.ndarray) -> np.ndarray:
        k = np.isfinite(a).sum(1)
        return np.where(k > 0, np.nansum(a, 1) / np.maximum(k, 1), np.nan)

    mean_rhat = mean_over_params(rh)
    mean_gr = mean_over_params(gr)
    conv = mean_rhat < 1.05
    out["converged"] = (
        "site",
        conv.astype(np.int8),
        {**unit, "long_name": "mean split R-hat over the sampled parameters < 1.05"},
    )
    out["gelman_rubin"] = (("site", "param"), full(gr),
                           {**unit, "long_name": "PRODA's Gelman-Rubin statistic (not split)"})  # fmt: skip
    out["proda_r2"] = (
        "site",
        r2_proda,
        {**unit, "long_name": "PRODA's R2 (SStot about the model mean), best chain"},
    )
    depth_obs = obs.depth.numpy()
    max_depth = np.nanmax(np.where(np.isfinite(depth_obs), depth_obs, -np.inf), 1)
    shape = profile_shape_ok(soc_obs, depth_obs)
    f = config.site_filter
    keep = (r2_proda > f["r2"]) & (mean_gr < f["gelman_rubin"]) & (max_depth > f["depth_m"])
    if f["shape"]:
        keep &= shape
    out["profile_shape_ok"] = ("site", shape.astype(np.int8),
                               {**unit, "long_name": "passes PRODA's SOC profile shape checks"})  # fmt: skip
    out["proda_filter"] = (
        "site",
        keep.astype(np.int8),
        {**unit, "long_name": "kept by PRODA's site filter before its network step",
         "rule": f"proda_r2 > {f['r2']}, mean gelman_rubin < {f['gelman_rubin']}, "
                 f"deepest observation > {f['depth_m']} m" + (", shape checks" if f["shape"] else "")},
    )  # fmt: skip
    evals = res.n_evaluations.numpy().reshape(n_sites, n_chains).sum(1)
    out["n_evaluations"] = (
        "site",
        evals.astype(np.int64),
        {**unit, "long_name": "process-model evaluations spent on the site (all chains)"},
    )
    out["ill_conditioned_proposals"] = (
        "site",
        n_ill.astype(np.int64),
        {**unit, "long_name": "proposals rejected as ill-conditioned (rcond < machine "
         "epsilon), all chains, counted by the process that finished the run"},
    )  # fmt: skip
    out["soc_fit"] = (
        ("site", "obs"),
        fit,
        {"units": "g m-3", "long_name": "SOC at the observed depths, posterior mean"},
    )
    out["soc_obs"] = (
        ("site", "obs"),
        soc_obs,
        {"units": "g m-3", "long_name": "observed SOC used (zeros and NaN dropped)"},
    )
    out["obs_depth"] = (
        ("site", "obs"),
        obs.depth.numpy(),
        {"units": "m", "long_name": "observation depth"},
    )
    out["layer_weight"] = (
        ("site", "obs"),
        obs.weights.numpy(),
        {**unit, "long_name": "PRODA layer weight"},
    )
    out.attrs.update({
        "title": "soilbinn PRODA retrieval",
        "acceptance_mode": config.mode,
        "summary": rule,
        "n_uniform": config.n_uniform,
        "n_gaussian": config.n_gaussian,
        "n_chains": n_chains,
        "seed": config.seed,
        "preset": space.preset,
        "transport": config.transport,
        "free_params": ",".join(free_names),
        "n_model_evaluations": int(evals.sum()),
        "config": json.dumps(asdict(config)),
        "soilbinn_version": __import__("soilbinn").__version__,
    })  # fmt: skip
    return out


def save_retrieval(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write a retrieval dataset atomically (NetCDF)."""
    from soilbinn.io import write_netcdf

    return write_netcdf(ds, path)
