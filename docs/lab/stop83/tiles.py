"""tiles.py: where a tiles truth's held-out error comes from (stop 83, section 4).

    python tiles.py errors NAME RUN P.nc        squared error of efolding/tau4s3/fs1s3 by tile
    python tiles.py tile NAME RUN P.nc TILE     truth and estimate in one tile, by split
    python tiles.py ridge NAME TILE             Fisher posterior sd and correlations there

NAME is a truth in fresh/ (e.g. tiles3445), RUN its run directory, P.nc its prediction.
"""

import sys

import numpy as np
import pandas as pd
import torch
import xarray as xr

from soilbinn.process.rates import water_saturation_threshold


def tile_of(name, t):
    """(n,) int: the truth's tile of each site (benchmarks/recovery_truths.py, truth_tiles)."""
    seed = int(name.strip("abcdefghijklmnopqrstuvwxyz"))
    g = np.random.default_rng([seed, 7171])
    w, h = g.uniform(7.0, 15.0), g.uniform(6.0, 12.0)
    x0, y0 = g.uniform(0.0, w), g.uniform(0.0, h)
    lon, lat = t.lon.values, t.lat.values
    return np.floor((lon - x0) / w).astype(int) * 1000 + np.floor((lat - y0) / h).astype(int)


def load(name, run, pred):
    """The truth, (truth site, param) estimates, each site's split, the parameter names."""
    t = xr.open_dataset(f"fresh/{name}.nc")
    p = xr.open_dataset(pred)
    split = pd.read_csv(f"{run}/split.csv")
    part = dict(zip(split.site.astype(str), split.split))
    ps = [str(s) for s in p.site.values]
    est = p.params.values[[ps.index(str(s)) for s in t.site.values]]
    sp = np.array([part[str(x)] for x in t.site.values])
    return t, est, sp, [str(x) for x in t.param.values]


def errors(name, run, pred):
    t, est, sp, names = load(name, run, pred)
    cell, te = tile_of(name, t), sp == "test"
    for n in ["efolding", "tau4s3", "fs1s3"]:
        j = names.index(n)
        e = est[:, j] - t.true_params.values[:, j]
        df = pd.DataFrame({"cell": cell[te], "e2": e[te] ** 2, "e": e[te]})
        gg = df.groupby("cell").agg(n=("e2", "size"), sse=("e2", "sum"), bias=("e", "mean"))
        gg["share"] = gg.sse / gg.sse.sum()
        gg["ntrain"] = [int(((cell == c) & (sp == "train")).sum()) for c in gg.index]
        print(n, "held-out squared error by tile (top 5):")
        print(gg.sort_values("share", ascending=False).head(5).round(3).to_string())


def tile(name, run, pred, c):
    t, est, sp, names = load(name, run, pred)
    m = tile_of(name, t) == c
    thr = water_saturation_threshold(torch.as_tensor(t.water_scalar.values)).numpy() / 5.0
    cols = {"split": sp[m], "thr": thr[m]}
    for n in ["efolding", "tau4s3", "fs1s3", "w_scaling"]:
        j = names.index(n)
        cols[f"{n}_t"], cols[f"{n}_p"] = t.true_params.values[m, j], est[m, j]
    df = pd.DataFrame(cols)
    df["sat_t"], df["sat_p"] = df.w_scaling_t >= df.thr, df.w_scaling_p >= df.thr
    print(df.groupby("split").mean().round(3).T.to_string())
    print("lon", t.lon.values[m].min(), t.lon.values[m].max(), "lat", t.lat.values[m].min(),
          t.lat.values[m].max())  # fmt: skip


def ridge(name, c):
    t = xr.open_dataset(f"fresh/{name}.nc")
    d = xr.open_dataset(f"fresh/id_{name}.nc")
    cell = tile_of(name, t)
    for label, m in [("tile", cell == c), ("rest", cell != c)]:
        sd, cor = d.posterior_sd.values[m], d.correlation.values[m]
        print(label, "median posterior sd", np.round(np.median(sd, 0), 3),
              "median corr tau4s3-w_scaling", np.round(np.median(cor[:, 1, 3]), 3),
              "efolding-tau4s3", np.round(np.median(cor[:, 0, 1]), 3))  # fmt: skip


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "errors":
        errors(*args)
    elif cmd == "tile":
        tile(*args[:3], int(args[3]))
    else:
        ridge(args[0], int(args[1]))
