"""Synthetic truths written independently of ``soilbinn synth``'s own truth (benchmark aid).

Each truth takes ``synth``'s sites, covariates and forcing (``make_synthetic(...,
simulate=False)``), replaces the true parameters by its own function of the covariates
(all 21 varying within 0.15-0.85 on the unit scale), simulates SOC with the project's
process model and adds multiplicative log-normal noise. Two differently written truths:

- ``mix``: a random smooth-step of a linear + pairwise-interaction combination of
  standardised temperature range, silt, precipitation, elevation, longitude (and others),
  plus a random land-cover offset; squashed into [0.15, 0.85] by a logistic.
- ``bands``: rank-based (uniform marginals) products and sines of covariates with
  land-cover and climate-zone multipliers, clipped and rescaled into [0.15, 0.85].
- ``steps``: tree-like: sums of smoothed thresholds (steps of width ~5% of a covariate's
  spread) at random quantiles of pet, clay, sand, moisture index, bedrock depth, npp and
  ph, a land-cover x texture-class table, and one threshold-gated linear term; min-max
  scaled into [0.15, 0.85] (written to check that no setting is tuned to mix and bands).
- ``lc``: per parameter three saturating (tanh) main effects of covariates drawn from all
  of them and lon/lat, one product interaction of two more and a land-cover effect;
  quantile min-max scaled into [0.15, 0.85] (written in stop 28, after the ``demo``
  settings it was first run on had been chosen).
- ``field``: per parameter two random sinusoids of each of three covariates, a spatial
  random field (six plane waves of 8-30 degree wavelength in lon/lat) and a land-cover
  effect; quantile min-max scaled into [0.15, 0.85] (written in stop 35, after every
  ``demo`` setting had been chosen).
- ``hinge`` and ``blocks`` (written in stop 39 the way an outside user would, through
  ``soilbinn synth``, ``--params-for`` and ``soilbinn simulate --noise``): ``hinge`` sums
  two hinge functions ``max(0, z - t)`` of covariates, a Gaussian bump of a third, a
  latitude gradient and climate-zone and texture-class effects; ``blocks`` sums linear
  terms of two covariates, a square of one and a softplus of a third, plus an offset per
  10 x 10 degree region; both min-max scaled into [0.15, 0.85].
- ``gp`` (stop 45): the logistic of a Gaussian-process draw of three covariates per
  parameter, the GP stage's own model (a check that it recovers a truth it can represent).
- ``niche`` (stop 58, written after every ``demo`` setting had been chosen): response
  curves the way an ecologist writes them, multiplied: a Gaussian niche along one
  covariate whose optimum shifts with a second, a Michaelis-Menten saturation in a third,
  a power law of a fourth and a log-normal factor per land cover; the log of the product
  quantile min-max scaled into [0.15, 0.85].
- ``response`` (stop 59, written after the sum kernel was chosen and before any run on
  it): the response functions of soil carbon models summed (Arrhenius temperature,
  moisture optimum, clay protection, broken-stick pH, NPP, bedrock depth) with a
  land-cover x texture-class table; probit-squashed into [0.15, 0.85].
- ``regimes`` (stop 60, written while this stop's candidate ran on older truths, before
  any run on it): per parameter three or four climate regimes (a sharp softmax of linear
  scores of two or three climate covariates), each with its own linear function of two or
  three other covariates, blended by membership, plus a land-cover effect; a logistic
  into [0.15, 0.85].
- ``indices`` (stop 61, written while this stop's candidates ran on older truths, before
  any run on it): smooth saturating or unimodal functions of derived indices (aridity
  ``log(map / pet)``, warmth, fine-fraction protection, an acidity-productivity index,
  relative bedrock depth), each along an axis no single covariate lies on, one product of
  two of them and a land-cover x climate-zone table; a logistic into [0.15, 0.85].
- ``levels`` (stop 62, written after this stop's candidate was measured on older truths,
  before any run on it): each parameter within a band of its own, a level in [0.25, 0.75]
  and a half-width in [0.08, 0.3] (some parameters change little across the region): a
  tanh of one covariate, a Gaussian bump of a second, a quadratic of a third and a
  climate-zone offset, quantile scaled into the band.
- ``regions`` (stop 75, written after lon/lat cells were added to the GP's prior, which
  line up with ``blocks``' 10-degree regions): ``blocks``' terms with the offsets on 14
  Voronoi regions around random centres, whose borders no grid of cells follows.
- ``tiles`` (stop 77, written before anything ran on it, to test the cells on regions
  that are rectangles but not theirs): ``blocks``' terms with the offsets on rectangular
  tiles of a random width (7-15 degrees of longitude) and height (6-12 of latitude) whose
  grid starts at a random lon/lat origin, so no cell size lines up with their borders.

Usage::

    python benchmarks/recovery_truths.py --truth mix --sites 3000 --seed 7 --out mix.nc
    soilbinn train --data mix.nc --config demo --set "model.learned=[efolding,tau4s3,fs1s3,w_scaling]" \
        --set model.fixed_from=true_params --set data.split=spatial

with the truth's regions as a categorical covariate, as a user who knows them would give
them (``--regions-as-category``; or ``--regions-as-category regions`` for regions that
the truth does not have)::

    python benchmarks/recovery_truths.py --truth tiles --seed 7 --regions-as-category --out t.nc

or, the parameters only, for sites a user already has::

    soilbinn synth --sites 3000 --seed 227 --out base.nc
    python benchmarks/recovery_truths.py --truth blocks --seed 227 --params-for base.nc --out P.nc
    soilbinn simulate base.nc --params P.nc --noise 0.1 --seed 227 --out blocks227.nc
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import xarray as xr

from soilbinn.data.schema import save_dataset
from soilbinn.inputs.synth import make_synthetic, simulate_soc_layer
from soilbinn.process.observation import interpolate_to_depths


def _features(ds: xr.Dataset) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    cov = ds["covariates"].values.astype(float)
    names = [str(c) for c in ds["covariate"].values]
    f = {n: cov[:, i] for i, n in enumerate(names)}
    f["lon"] = ds["lon"].values.astype(float)
    f["lat"] = ds["lat"].values.astype(float)
    cats = ds["categories"].values.astype(int)
    cnames = [str(c) for c in ds["category"].values]
    return f, cats[:, cnames.index("land_cover")], cats[:, cnames.index("climate_zone")]


def truth_mix(ds: xr.Dataset, seed: int) -> np.ndarray:
    """(n, 21) unit-scale truth: logistic of linear + interaction terms + land-cover offsets."""
    f, lc, _ = _features(ds)
    keys = ["temp_range", "silt", "map", "elevation", "lon", "mat", "ph", "npp"]
    Z = np.stack([(f[k] - f[k].mean()) / (f[k].std() + 1e-9) for k in keys], axis=1)
    rng = np.random.default_rng([seed, 901])
    n, m = Z.shape
    out = np.empty((n, 21))
    for j in range(21):
        w = rng.normal(0, 1, m) * (rng.random(m) < 0.6)
        a, b = rng.choice(m, 2, replace=False)
        s = Z @ w + 0.8 * rng.normal() * Z[:, a] * Z[:, b]
        s = s + rng.normal(0, 0.7, lc.max() + 1)[lc]
        s = (s - s.mean()) / (s.std() + 1e-9)
        out[:, j] = 0.15 + 0.7 / (1.0 + np.exp(-1.6 * s))
    return out


def truth_bands(ds: xr.Dataset, seed: int) -> np.ndarray:
    """(n, 21) unit-scale truth from ranks, products and sines of covariates."""
    f, lc, cz = _features(ds)
    rank = {k: (np.argsort(np.argsort(v)) + 0.5) / len(v) for k, v in f.items()}
    keys = ["temp_range", "silt", "map", "elevation", "lon", "clay", "pet", "lat"]
    rng = np.random.default_rng([seed, 902])
    lc_mult = rng.uniform(0.7, 1.3, (21, lc.max() + 1))
    cz_add = rng.uniform(-0.15, 0.15, (21, cz.max() + 1))
    out = np.empty((len(lc), 21))
    for j in range(21):
        k1, k2, k3 = rng.choice(keys, 3, replace=False)
        phase = rng.uniform(0, 2 * np.pi)
        v = 0.5 * rank[k1] + 0.3 * rank[k2] * rank[k3] + 0.2 * np.sin(2 * np.pi * rank[k3] + phase)
        v = v * lc_mult[j, lc] + cz_add[j, cz]
        lo, hi = np.quantile(v, [0.01, 0.99])
        out[:, j] = 0.15 + 0.7 * np.clip((v - lo) / (hi - lo), 0, 1)
    return out


def truth_steps(ds: xr.Dataset, seed: int) -> np.ndarray:
    """(n, 21) unit-scale truth from thresholds, a land-cover x texture table and a gate."""
    f, lc, _ = _features(ds)
    cats = ds["categories"].values.astype(int)
    tex = cats[:, [str(c) for c in ds["category"].values].index("texture_class")]
    keys = ["pet", "clay", "sand", "moisture_index", "bedrock_depth", "npp", "ph"]
    rng = np.random.default_rng([seed, 904])
    table = rng.normal(0, 0.5, (21, lc.max() + 1, tex.max() + 1))
    out = np.empty((len(lc), 21))
    for j in range(21):
        v = table[j, lc, tex].copy()
        for k in rng.choice(keys, 3, replace=False):
            x = f[k]
            t = np.quantile(x, rng.uniform(0.2, 0.8))
            width = 0.05 * x.std() + 1e-12
            v += rng.choice([-1.0, 1.0]) * rng.uniform(0.6, 1.2) / (1 + np.exp(-(x - t) / width))
        g, k = rng.choice(keys, 2, replace=False)
        zg = (f[g] - f[g].mean()) / (f[g].std() + 1e-9)
        zk = (f[k] - f[k].mean()) / (f[k].std() + 1e-9)
        v += 0.4 * np.where(zg > 0, zk, -0.5 * zk)
        lo, hi = np.quantile(v, [0.01, 0.99])
        out[:, j] = 0.15 + 0.7 * np.clip((v - lo) / (hi - lo), 0, 1)
    return out


def truth_lc(ds: xr.Dataset, seed: int) -> np.ndarray:
    """(n, 21) unit-scale truth from tanh main effects, a product and land-cover effects."""
    f, lc, _ = _features(ds)
    keys = [k for k in f if k != "nbedrock"]
    z = {k: (f[k] - f[k].mean()) / (f[k].std() + 1e-9) for k in keys}
    rng = np.random.default_rng([seed, 977])
    out = np.empty((len(lc), 21))
    for j in range(21):
        v = np.zeros(len(lc))
        for k in rng.choice(keys, 3, replace=False):
            amplitude, sign = rng.uniform(0.5, 1.5), rng.choice([-1, 1])
            v += amplitude * sign * np.tanh(rng.uniform(0.5, 1.5) * z[k] + rng.normal(0, 0.5))
        a, b = rng.choice(keys, 2, replace=False)
        v += rng.uniform(0.3, 0.8) * rng.choice([-1, 1]) * z[a] * z[b]
        v += rng.normal(0, 0.6, lc.max() + 1)[lc]
        lo, hi = np.quantile(v, [0.005, 0.995])
        out[:, j] = 0.15 + 0.7 * np.clip((v - lo) / (hi - lo), 0, 1)
    return out


def truth_field(ds: xr.Dataset, seed: int) -> np.ndarray:
    """(n, 21) unit-scale truth: additive wiggles of covariates plus a spatial random field."""
    f, lc, _ = _features(ds)
    keys = [k for k in f if k not in ("nbedrock", "lon", "lat")]
    z = {k: (f[k] - f[k].mean()) / (f[k].std() + 1e-9) for k in keys}
    lonlat = np.stack([f["lon"], f["lat"]], axis=1)
    rng = np.random.default_rng([seed, 905])
    out = np.empty((len(lc), 21))
    for j in range(21):
        v = np.zeros(len(lc))
        for k in rng.choice(keys, 3, replace=False):  # two sinusoids of each covariate
            for _ in range(2):
                v += rng.uniform(0.3, 0.8) * np.sin(
                    rng.uniform(0.4, 1.6) * z[k] + rng.uniform(0, 2 * np.pi)
                )
        for _ in range(6):  # plane waves of 8-30 degrees in (lon, lat)
            angle, wavelength = rng.uniform(0, np.pi), rng.uniform(8.0, 30.0)
            direction = np.array([np.cos(angle), np.sin(angle)]) * 2 * np.pi / wavelength
            v += rng.uniform(0.1, 0.4) * np.cos(lonlat @ direction + rng.uniform(0, 2 * np.pi))
        v += rng.normal(0, 0.4, lc.max() + 1)[lc]
        lo, hi = np.quantile(v, [0.005, 0.995])
        out[:, j] = 0.15 + 0.7 * np.clip((v - lo) / (hi - lo), 0, 1)
    return out


def _standardised(ds: xr.Dataset) -> dict[str, np.ndarray]:
    """Standardised covariates (without nbedrock) and latitude, by name."""
    f, _, _ = _features(ds)
    keys = [k for k in f if k not in ("nbedrock", "lon")]
    return {k: (f[k] - f[k].mean()) / (f[k].std() + 1e-9) for k in keys}


def truth_hinge(ds: xr.Dataset, seed: int) -> np.ndarray:
    """(n, 21) unit-scale truth: hinges, a bump, a latitude gradient, zone and texture effects."""
    z = _standardised(ds)
    cats = ds["categories"].values.astype(int)
    cnames = [str(c) for c in ds["category"].values]
    cz, tex = cats[:, cnames.index("climate_zone")], cats[:, cnames.index("texture_class")]
    rng = np.random.default_rng([seed, 4242])
    keys = sorted(z)
    out = np.empty((len(cz), 21))
    for j in range(21):
        v = np.zeros(len(cz))
        for k in rng.choice(keys, 2, replace=False):  # max(0, z - t), either sign
            t = rng.uniform(-1, 1)
            v += rng.choice([-1, 1]) * rng.uniform(0.5, 1.2) * np.maximum(0, z[k] - t)
        k = rng.choice(keys)
        v += rng.choice([-1, 1]) * np.exp(-0.5 * (z[k] - rng.normal()) ** 2)
        v += 0.5 * rng.normal() * z["lat"]
        v += rng.normal(0, 0.4, cz.max() + 1)[cz] + rng.normal(0, 0.2, tex.max() + 1)[tex]
        lo, hi = np.quantile(v, [0.01, 0.99])
        out[:, j] = 0.15 + 0.7 * np.clip((v - lo) / (hi - lo), 0, 1)
    return out


def region_ids(ds: xr.Dataset, kind: str, seed: int) -> tuple[np.ndarray, int]:
    """The regions of the truths with regional offsets: (n,) region of each site and how
    many regions the kind draws.

    ``blocks``: 10 x 10 degree cells of longitude and latitude (from -130, 20); ``regions``
    (stop 75): the nearest of 14 centres drawn uniformly over the sites' lon/lat box, so no
    grid of cells lines up with their borders (as with ecoregions or states); ``tiles``
    (stop 77): rectangles of a random width (7-15 degrees) and height (6-12) on a grid of a
    random origin, so no grid of 5, 10 or 20 degree cells lines up with them.
    """
    lon, lat = ds["lon"].values.astype(float), ds["lat"].values.astype(float)
    if kind == "regions":
        g = np.random.default_rng([seed, 6161])
        cx, cy = g.uniform(lon.min(), lon.max(), 14), g.uniform(lat.min(), lat.max(), 14)
        return ((lon[:, None] - cx) ** 2 + (lat[:, None] - cy) ** 2).argmin(1), 14
    if kind == "blocks":
        cell = (np.floor((lon + 130) / 10) * 10 + np.floor((lat - 20) / 10)).astype(int)
    elif kind == "tiles":
        g = np.random.default_rng([seed, 7171])
        w, h = g.uniform(7.0, 15.0), g.uniform(6.0, 12.0)
        x0, y0 = g.uniform(0.0, w), g.uniform(0.0, h)
        cell = np.floor((lon - x0) / w).astype(int) * 1000 + np.floor((lat - y0) / h).astype(int)
    else:
        raise ValueError(f"no regions of kind {kind!r}: one of {REGION_KINDS}")
    _, block = np.unique(cell, return_inverse=True)
    return block, int(block.max()) + 1


#: the truths whose parameters have an offset per region (:func:`region_ids`)
REGION_KINDS = ("blocks", "regions", "tiles")


def truth_blocks(ds: xr.Dataset, seed: int) -> np.ndarray:
    """(n, 21) unit-scale truth: linear, square and softplus terms plus 10-degree region offsets."""
    return _terms_and_offsets(ds, seed, *region_ids(ds, "blocks", seed))


def truth_regions(ds: xr.Dataset, seed: int) -> np.ndarray:
    """(n, 21) unit-scale truth: ``blocks``' terms, the offsets on 14 Voronoi regions
    (written in stop 75, after lon/lat cells were added to the GP's prior)."""
    return _terms_and_offsets(ds, seed, *region_ids(ds, "regions", seed))


def truth_tiles(ds: xr.Dataset, seed: int) -> np.ndarray:
    """(n, 21) unit-scale truth: ``blocks``' terms, the offsets on rectangular tiles of a
    random size and origin (stop 77)."""
    return _terms_and_offsets(ds, seed, *region_ids(ds, "tiles", seed))


def add_region_category(ds: xr.Dataset, kind: str, seed: int) -> xr.Dataset:
    """``ds`` with the regions of ``kind`` (:func:`region_ids`, drawn with ``seed``) as a
    fourth categorical covariate ``region``: what a user who knows the regions (ecoregions,
    states, soil survey areas) gives the network and the GP prior."""
    _, block = np.unique(region_ids(ds, kind, seed)[0], return_inverse=True)  # the regions
    n = int(block.max()) + 1  # that hold sites, numbered from 0
    cat = ds["categories"]
    new = xr.DataArray(block.astype(np.int32)[:, None], dims=("site", "category"),
                       coords={"site": ds["site"], "category": ["region"]})  # fmt: skip
    out = xr.concat([cat, new], dim="category")
    out.attrs = {**cat.attrs, "flag_values_region": np.arange(n, dtype=np.int32),
                 "flag_meanings_region": " ".join(f"{kind}_{i}" for i in range(n))}  # fmt: skip
    return ds.drop_vars("categories").drop_dims("category").assign(categories=out)


def _terms_and_offsets(ds: xr.Dataset, seed: int, block: np.ndarray, n_blocks: int) -> np.ndarray:
    """``blocks``' parameters: per parameter, linear terms in two covariates, a square and a
    softplus of others and an offset (sd 0.35) per region ``block`` (n,) of ``n_blocks``,
    quantile scaled into [0.15, 0.85]."""
    z = _standardised(ds)
    rng = np.random.default_rng([seed, 5151])
    keys = sorted(k for k in z if k != "lat")
    out = np.empty((len(block), 21))
    for j in range(21):
        a, b, c = rng.choice(keys, 3, replace=False)
        v = rng.normal(0, 0.8) * z[a] + rng.normal(0, 0.8) * z[b] + 0.3 * rng.normal() * z[a] ** 2
        v = v + 0.6 * rng.normal() * np.log1p(np.exp(z[c]))
        v = v + rng.normal(0, 0.35, n_blocks)[block]
        lo, hi = np.quantile(v, [0.01, 0.99])
        out[:, j] = 0.15 + 0.7 * np.clip((v - lo) / (hi - lo), 0, 1)
    return out


def truth_gp(ds: xr.Dataset, seed: int) -> np.ndarray:
    """(n, 21) unit-scale truth: the logistic of a draw from a Gaussian process per parameter.

    The GP stage's own model, where it is right: logits ~ GP(0, 1.5 * ARD squared
    exponential) of three z-scored covariates (lon and lat among the candidates; length
    scales uniform in 1-3 standard deviations, the other covariates irrelevant); no land-
    cover effect, no clipping (the values may leave 0.15-0.85).
    """
    f, _, _ = _features(ds)
    keys = sorted(f)
    x = np.stack([(f[k] - f[k].mean()) / (f[k].std() + 1e-9) for k in keys], axis=1)
    rng = np.random.default_rng([seed, 4545])
    out = np.empty((len(x), 21))
    for j in range(21):
        z = x[:, rng.choice(len(keys), 3, replace=False)] / rng.uniform(1, 3, 3)
        sq = (z**2).sum(1)
        cov = 1.5 * np.exp(-0.5 * np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0))
        chol = np.linalg.cholesky(cov + 1e-6 * np.eye(len(z)))
        out[:, j] = 1 / (1 + np.exp(-(chol @ rng.standard_normal(len(z)))))
    return out


def truth_niche(ds: xr.Dataset, seed: int) -> np.ndarray:
    """(n, 21) unit-scale truth: a product of a shifting Gaussian niche, a saturation, a
    power law and a land-cover factor (each parameter its own covariates)."""
    z = _standardised(ds)
    f, lc, _ = _features(ds)
    rng = np.random.default_rng([seed, 5858])
    keys = sorted(k for k in z if k != "lat")
    out = np.empty((len(lc), 21))
    for j in range(21):
        a, b, c, d = rng.choice(keys, 4, replace=False)
        # a Gaussian niche along a, its optimum moving with b
        opt = rng.normal(0, 0.7) + rng.uniform(-0.6, 0.6) * z[b]
        log_v = -0.5 * ((z[a] - opt) / rng.uniform(0.7, 1.8)) ** 2
        # Michaelis-Menten in c (shifted positive), its half-saturation within c's range
        pos = f[c] - f[c].min() + 0.05 * (f[c].std() + 1e-9)
        log_v = log_v + rng.choice([-1, 1]) * np.log(
            pos / (pos + np.quantile(pos, rng.uniform(0.1, 0.6)))
        )
        # a power law of d (shifted positive)
        pos = f[d] - f[d].min() + 0.5 * (f[d].std() + 1e-9)
        log_v = log_v + rng.uniform(-0.8, 0.8) * np.log(pos / pos.mean())
        log_v = log_v + rng.normal(0, 0.3, lc.max() + 1)[lc]
        lo, hi = np.quantile(log_v, [0.01, 0.99])
        out[:, j] = 0.15 + 0.7 * np.clip((log_v - lo) / (hi - lo), 0, 1)
    return out


def truth_response(ds: xr.Dataset, seed: int) -> np.ndarray:
    """(n, 21) unit-scale truth: the response functions of soil carbon models, summed.

    Per parameter three to five of: an Arrhenius temperature response (linear in
    ``1 / T``, activation energy 20-80 kJ/mol), a moisture optimum (quadratic in log
    moisture index), clay protection saturating with clay content (``log(1 + a clay)``), a
    broken-stick pH response (its slope changing at pH 5-7), a log-linear NPP term, a
    logistic of bedrock depth; each standardised and weighted (either sign), plus an
    effect per land-cover and texture-class pair; the sum's probit, centred on its median
    and scaled by its spread, into [0.15, 0.85].
    """
    from scipy.stats import norm

    f, lc, _ = _features(ds)
    cats = ds["categories"].values.astype(int)
    tex = cats[:, [str(c) for c in ds["category"].values].index("texture_class")]
    rng = np.random.default_rng([seed, 6161])
    t_k = f["mat"] + 273.15
    moist = np.log(np.maximum(f["moisture_index"], 1e-3))
    n = len(lc)
    out = np.empty((n, 21))

    def std(v: np.ndarray) -> np.ndarray:
        return (v - v.mean()) / (v.std() + 1e-9)

    for j in range(21):
        terms = {
            "arrhenius": lambda: -rng.uniform(20e3, 80e3) / 8.314 * (1 / t_k - 1 / 288.15),
            "moisture": lambda: -((moist - np.quantile(moist, rng.uniform(0.2, 0.8))) ** 2),
            "clay": lambda: np.log1p(rng.uniform(0.02, 0.3) * f["clay"]),
            "ph": lambda: np.where(f["ph"] < (b := rng.uniform(5, 7)), rng.uniform(-1, 1),
                                   rng.uniform(-1, 1)) * (f["ph"] - b),
            "npp": lambda: np.log(np.maximum(f["npp"], 1.0)),
            "bedrock": lambda: 1 / (1 + np.exp(-(f["bedrock_depth"]
                                                 - np.quantile(f["bedrock_depth"], rng.uniform(0.2, 0.8)))
                                                / (0.2 * f["bedrock_depth"].std() + 1e-9))),
        }  # fmt: skip
        chosen = rng.choice(sorted(terms), rng.integers(3, 6), replace=False)
        v = sum(rng.choice([-1, 1]) * rng.uniform(0.4, 1.2) * std(terms[k]()) for k in chosen)
        v = v + rng.normal(0, 0.35, (lc.max() + 1, tex.max() + 1))[lc, tex]
        q25, q50, q75 = np.quantile(v, [0.25, 0.5, 0.75])
        out[:, j] = 0.15 + 0.7 * norm.cdf((v - q50) / (rng.uniform(0.8, 1.4) * (q75 - q25)))
    return out


def truth_regimes(ds: xr.Dataset, seed: int) -> np.ndarray:
    """(n, 21) unit-scale truth: different controls in different climates, blended.

    Per parameter, three or four regimes (think biomes): each site's membership is a
    softmax of linear scores of two or three climate covariates (mean annual temperature,
    precipitation, temperature range, moisture index, pet), sharp enough that most sites
    belong mostly to one regime, with transitions over a fraction of a covariate's spread.
    Within each regime the parameter is linear in two or three covariates drawn from all
    of them, with the regime's own coefficients and level; the membership-weighted sum
    plus an effect per land cover goes through a logistic, scaled by its spread, into
    [0.15, 0.85].
    """
    z = _standardised(ds)
    _, lc, _ = _features(ds)
    rng = np.random.default_rng([seed, 7373])
    climate = [k for k in ("mat", "map", "temp_range", "moisture_index", "pet") if k in z]
    keys = sorted(z)
    n = len(lc)
    out = np.empty((n, 21))
    for j in range(21):
        r = int(rng.integers(3, 5))
        drivers = rng.choice(climate, int(rng.integers(2, 4)), replace=False)
        score = np.stack([
            sum(rng.normal(0, 1) * z[c] for c in drivers) + rng.normal(0, 0.5) for _ in range(r)
        ], axis=1) * rng.uniform(2.0, 5.0)  # fmt: skip
        member = np.exp(score - score.max(1, keepdims=True))
        member /= member.sum(1, keepdims=True)
        within = np.stack([
            rng.normal(0, 1.0) + sum(rng.normal(0, 0.7) * z[c]
                                      for c in rng.choice(keys, int(rng.integers(2, 4)),
                                                          replace=False))
            for _ in range(r)
        ], axis=1)  # fmt: skip
        v = (member * within).sum(1) + rng.normal(0, 0.4, lc.max() + 1)[lc]
        v = (v - np.median(v)) / (np.quantile(v, 0.75) - np.quantile(v, 0.25) + 1e-9)
        out[:, j] = 0.15 + 0.7 / (1.0 + np.exp(-rng.uniform(1.5, 2.5) * v))
    return out


def truth_indices(ds: xr.Dataset, seed: int) -> np.ndarray:
    """(n, 21) unit-scale truth: smooth functions of derived environmental indices.

    The controls are not the covariates themselves but indices a soil scientist builds
    from them, each along an axis no single covariate lies on: aridity ``log(map / pet)``,
    a growing-season warmth ``mat + temp_range / 2``, fine-fraction protection
    ``log(clay + silt) * moisture``, an acidity-productivity index ``npp / (1 + |ph - 6.5|)``
    and depth to bedrock relative to elevation. Per parameter two or three indices, each
    entering as a saturating (tanh) or unimodal (Gaussian bump) function with a random
    centre and width, plus one product of two of them, plus an effect per land-cover and
    climate-zone pair; the sum, centred on its median and scaled by its spread, through a
    logistic into [0.15, 0.85].
    """
    f, lc, zone = _features(ds)

    def std(v: np.ndarray) -> np.ndarray:
        return (v - v.mean()) / (v.std() + 1e-9)

    idx = {
        "aridity": std(np.log(np.maximum(f["map"], 1.0) / np.maximum(f["pet"], 1.0))),
        "warmth": std(f["mat"] + 0.5 * f["temp_range"]),
        "protection": std(np.log(f["clay"] + f["silt"]) * f["moisture_index"]),
        "acid_npp": std(f["npp"] / (1.0 + np.abs(f["ph"] - 6.5))),
        "depth": std(np.log(f["bedrock_depth"]) - 0.5 * std(f["elevation"])),
    }
    names = sorted(idx)
    rng = np.random.default_rng([seed, 8484])
    n = len(lc)
    out = np.empty((n, 21))
    for j in range(21):
        chosen = rng.choice(names, int(rng.integers(2, 4)), replace=False)
        v = np.zeros(n)
        for k in chosen:
            c, w = rng.uniform(-1.0, 1.0), rng.uniform(0.6, 1.5)
            if rng.random() < 0.6:  # saturating
                v += rng.choice([-1, 1]) * np.tanh((idx[k] - c) / w)
            else:  # an optimum
                v += rng.choice([-1, 1]) * np.exp(-0.5 * ((idx[k] - c) / w) ** 2)
        a, b = rng.choice(names, 2, replace=False)
        v += rng.uniform(-0.6, 0.6) * idx[a] * idx[b]
        v += rng.normal(0, 0.35, (lc.max() + 1, zone.max() + 1))[lc, zone]
        v = (v - np.median(v)) / (np.quantile(v, 0.75) - np.quantile(v, 0.25) + 1e-9)
        out[:, j] = 0.15 + 0.7 / (1.0 + np.exp(-rng.uniform(1.5, 2.5) * v))
    return out


def truth_levels(ds: xr.Dataset, seed: int) -> np.ndarray:
    """(n, 21) unit-scale truth: each parameter varies over a band of its own around its own
    level, some bands narrow (a process that changes little across the region).

    Per parameter a level anywhere in [0.25, 0.75] and a half-width in [0.08, 0.3]; within
    the band, a saturating (tanh) function of one standardised covariate, a Gaussian bump of
    a second, a quadratic of a third and an offset per climate zone, the sum quantile
    scaled into [-1, 1]; the result clipped into [0.15, 0.85].
    """
    z = _standardised(ds)
    _, _, zone = _features(ds)
    names = sorted(z)
    rng = np.random.default_rng([seed, 6262])
    n = len(zone)
    out = np.empty((n, 21))
    for j in range(21):
        a, b, c = rng.choice(names, 3, replace=False)
        v = rng.choice([-1, 1]) * np.tanh((z[a] - rng.uniform(-1, 1)) / rng.uniform(0.5, 1.5))
        v += rng.choice([-1, 1]) * np.exp(
            -0.5 * ((z[b] - rng.uniform(-1, 1)) / rng.uniform(0.6, 1.5)) ** 2
        )
        v += rng.uniform(-0.4, 0.4) * z[c] ** 2
        v += rng.normal(0, 0.3, zone.max() + 1)[zone]
        lo, hi = np.quantile(v, [0.02, 0.98])
        v = np.clip(2 * (v - lo) / (hi - lo + 1e-9) - 1, -1, 1)
        level, half = rng.uniform(0.25, 0.75), rng.uniform(0.08, 0.3)
        out[:, j] = np.clip(level + half * v, 0.15, 0.85)
    return out


TRUTHS = {
    "mix": truth_mix, "bands": truth_bands, "steps": truth_steps, "lc": truth_lc,
    "field": truth_field, "hinge": truth_hinge, "blocks": truth_blocks, "gp": truth_gp,
    "niche": truth_niche, "response": truth_response, "regimes": truth_regimes,
    "indices": truth_indices, "levels": truth_levels, "regions": truth_regions,
    "tiles": truth_tiles,
}  # fmt: skip


def make_truth_dataset(
    kind: str, n_sites: int, seed: int = 0, noise: float = 0.1, preset: str = "binn2025"
) -> xr.Dataset:
    """``synth`` sites and forcing with the truth ``kind``, SOC simulated, noise added."""
    ds = make_synthetic(n_sites, seed=seed, noise=noise, preset=preset, simulate=False)
    p = TRUTHS[kind](ds, seed)
    ds["true_params"].values[:] = p
    ds["params"].values[:] = p
    for var in ("true_params", "params"):  # synth's formulas describe synth's truth, not this one
        attrs = ds[var].attrs
        ds[var].attrs = {
            k: v
            for k, v in attrs.items()
            if not k.startswith("function_") and k != "standardised_covariates"
        }
    ds["true_params"].attrs["truth"] = f"benchmarks/recovery_truths.py:{kind}"
    layer = simulate_soc_layer(p, ds, preset)
    depth = ds["obs_depth"].values
    soc_true = interpolate_to_depths(
        torch.from_numpy(layer), torch.from_numpy(depth), method="linear"
    ).numpy()
    eps = np.random.default_rng([seed, 903]).standard_normal(depth.shape)
    attrs = {"units": "g m-3", "long_name": "soil organic carbon density"}
    ds["soc"] = (
        ("site", "obs"),
        soc_true * np.exp(noise * eps),
        {**attrs, "noise": f"log-normal, sigma={noise}"},
    )
    ds["soc_true"] = (("site", "obs"), soc_true, attrs)
    ds.attrs.update({"truth": kind, "source": "benchmarks/recovery_truths.py"})
    return ds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--truth", choices=sorted(TRUTHS), required=True)
    ap.add_argument("--sites", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--out", required=True)
    ap.add_argument(
        "--params-for",
        metavar="DATA",
        help="write only params(site, param) for the sites of DATA (e.g. `soilbinn synth`'s "
        "output), for `soilbinn simulate DATA --params OUT --noise 0.1` (--sites and --noise "
        "are then unused)",
    )
    ap.add_argument(
        "--regions-as-category",
        nargs="?",
        const="own",
        metavar="KIND",
        help="add the regions of KIND (blocks, regions or tiles; default: the truth's own) as "
        "a categorical covariate `region`, as a user who knows them would (not with "
        "--params-for)",
    )
    a = ap.parse_args()
    kind = a.truth if a.regions_as_category == "own" else a.regions_as_category
    if kind is not None and kind not in REGION_KINDS:
        ap.error(f"--regions-as-category: {kind!r} has no regions; one of {REGION_KINDS}")
    if kind is not None and a.params_for:
        ap.error("--regions-as-category adds a covariate to a whole dataset, not to --params-for")
    if a.params_for:
        base = xr.load_dataset(a.params_for)
        attrs = {"units": "1", "preset": base["true_params"].attrs.get("preset", "binn2025"),
                 "truth": f"benchmarks/recovery_truths.py:{a.truth}, seed {a.seed}"}  # fmt: skip
        out = xr.Dataset(
            {"params": (("site", "param"), TRUTHS[a.truth](base, a.seed), attrs)},
            coords={"site": base["site"], "param": base["param"]},
        )
        save_dataset(out, a.out)
    else:
        ds = make_truth_dataset(a.truth, a.sites, a.seed, a.noise)
        if kind is not None:
            ds = add_region_category(ds, kind, a.seed)
        save_dataset(ds, a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
