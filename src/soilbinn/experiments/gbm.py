"""Gradient-boosting comparator: stocks and layer SOC straight from the covariates.

What a soil scientist would otherwise reach for: scikit-learn's
:class:`~sklearn.ensemble.HistGradientBoostingRegressor` (native missing values and
categorical splits), fitted on the same covariates as BINN (numeric + categorical codes):

* one model per stock interval (0-30 cm, 0-100 cm; g m-2), fitted on the training sites
  with an observed stock of that interval;
* one model of layer SOC density (g m-3) from covariates + observation depth (m), fitted on
  every observed layer of the training sites; it gives the profile predictions, and the
  stocks where too few training sites carry an observed stock (integrated over the 20 CLM5
  layers with the model grid's stock weights).

Settings are fixed (no tuning on the held-out data): squared error, learning rate 0.05, up
to 500 iterations with early stopping on a 10 % internal validation split, min 20 samples
per leaf, seeded. One thread (threadpoolctl) on the shared machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from soilbinn.evaluation.observed import STOCK_INTERVALS

#: fewer training stocks than this: derive the stock from the layer model
MIN_STOCK_SITES = 30


def _features(ds: xr.Dataset, numeric_names, categorical_names) -> tuple[np.ndarray, np.ndarray]:
    """(n, c) float features and the categorical mask, columns in a fixed order."""
    from soilbinn.data.schema import covariates_from_dataset

    cov = covariates_from_dataset(ds)
    num = cov.numeric.numpy().astype(np.float64)
    names = list(cov.numeric_names)
    if numeric_names is not None:
        num = num[:, [names.index(n) for n in numeric_names]]
    cat = cov.categorical.numpy().astype(np.float64)
    cnames = list(cov.categorical_names)
    if categorical_names is not None:
        cat = cat[:, [cnames.index(n) for n in categorical_names]]
    cat = np.where(cat < 0, np.nan, cat)
    x = np.concatenate([num, cat], axis=1)
    mask = np.r_[np.zeros(num.shape[1], bool), np.ones(cat.shape[1], bool)]
    return x, mask


def _regressor(mask: np.ndarray, seed: int):
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(
        learning_rate=0.05, max_iter=500, min_samples_leaf=20, early_stopping=True,
        validation_fraction=0.1, n_iter_no_change=20, random_state=seed,
        categorical_features=mask if mask.any() else None,
    )  # fmt: skip


@dataclass
class GBMComparator:
    """Fitted gradient-boosting models (see the module docstring)."""

    numeric_names: list[str] | None = None
    categorical_names: list[str] | None = None
    seed: int = 0
    models: dict = field(default_factory=dict)

    def fit(self, ds: xr.Dataset, stocks: xr.Dataset) -> GBMComparator:
        """Fit on the sites of ``ds`` with observed stocks ``stocks`` (from
        :func:`soilbinn.evaluation.observed.observed_stocks`, same sites)."""
        from threadpoolctl import threadpool_limits

        x, self._mask = _features(ds, self.numeric_names, self.categorical_names)
        with threadpool_limits(1):
            if "soc" in ds.variables:
                soc = np.asarray(ds["soc"].transpose("site", ...).values, float)
                depth = np.asarray(ds["obs_depth"].transpose("site", ...).values, float)
                ok = np.isfinite(soc) & np.isfinite(depth)
                if ok.sum() >= MIN_STOCK_SITES:
                    rows = np.nonzero(ok)
                    xl = np.concatenate([x[rows[0]], depth[rows][:, None]], axis=1)
                    m = _regressor(np.r_[self._mask, False], self.seed)
                    self.models["layers"] = m.fit(xl, soc[rows])
            for name in STOCK_INTERVALS:
                y = np.asarray(stocks[name].values, float)
                ok = np.isfinite(y)
                if ok.sum() >= MIN_STOCK_SITES:
                    self.models[name] = _regressor(self._mask, self.seed).fit(x[ok], y[ok])
        if not self.models:
            raise ValueError("gradient boosting: fewer than 30 observed layers and stocks")
        return self

    def predict_layers(self, ds: xr.Dataset, depth: np.ndarray) -> np.ndarray:
        """SOC density (n, m) g m-3 at depths (n, m) m (NaN where depth is NaN)."""
        from threadpoolctl import threadpool_limits

        x, _ = _features(ds, self.numeric_names, self.categorical_names)
        out = np.full(depth.shape, np.nan)
        if "layers" not in self.models:
            return out
        ok = np.isfinite(depth)
        rows = np.nonzero(ok)
        with threadpool_limits(1):
            xl = np.concatenate([x[rows[0]], depth[rows][:, None]], axis=1)
            out[rows] = self.models["layers"].predict(xl)
        return out

    def predict_stocks(self, ds: xr.Dataset) -> dict[str, np.ndarray]:
        """Stocks (n,) g m-2 per interval name of ``STOCK_INTERVALS``."""
        from threadpoolctl import threadpool_limits

        from soilbinn.process import grid

        x, _ = _features(ds, self.numeric_names, self.categorical_names)
        n = x.shape[0]
        nodes = np.broadcast_to(np.asarray(grid.ZSOI, float), (n, len(grid.ZSOI)))
        layers = None
        out = {}
        for name, (a, b) in STOCK_INTERVALS.items():
            if name in self.models:
                with threadpool_limits(1):
                    out[name] = self.models[name].predict(x)
                continue
            if layers is None:
                layers = self.predict_layers(ds, np.ascontiguousarray(nodes))
            w = grid.depth_bin_stock_weights(a, b).numpy()
            out[name] = (np.clip(layers, 0, None) * w).sum(1)
        return out


__all__ = ["GBMComparator"]
