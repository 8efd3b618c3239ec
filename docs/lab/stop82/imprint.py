"""imprint.py SCORELOG RUNPREFIX PREDPREFIX: per truth of a score log (sc.sh / pkrunt.sh
lines), at the training sites: corr(logit w_scaling, logit threshold) of the estimate and
of the truth, and the share of sites at or above the threshold (estimate, truth).
RUNPREFIX/PREDPREFIX: e.g. fresh/run_n_ and fresh/p_n_ (NAME and .nc appended), or
runs/ and runs/ with SUFFIX env (e.g. _old, .p.nc)."""

import os
import sys

import numpy as np
import pandas as pd
import torch
import xarray as xr

from soilbinn.process.rates import water_saturation_threshold

log, rpre, ppre = sys.argv[1:4]
rsuf, psuf = os.environ.get("RSUF", ""), os.environ.get("PSUF", ".nc")


def logit(v):
    v = np.clip(v, 1e-6, 1 - 1e-6)
    return np.log(v / (1 - v))


print(
    "| truth | target | r(estimate, threshold) | r(truth, threshold) | saturated: estimate | truth |"
)
print("|---|---|---|---|---|---|")
for line in open(log):
    f = line.split()
    name, verdict = f[0], ("meets" if "PASS" in f else "misses")
    t = xr.open_dataset(f"fresh/{name}.nc")
    p = xr.open_dataset(f"{ppre}{name}{psuf}")
    split = pd.read_csv(f"{rpre}{name}{rsuf}/split.csv")
    part = dict(zip(split.site.astype(str), split.split))
    ps = [str(s) for s in p.site.values]
    idx = np.array([ps.index(str(s)) for s in t.site.values])
    tr = np.array([part[str(x)] for x in t.site.values]) == "train"
    j = [str(x) for x in t.param.values].index("w_scaling")
    thr = water_saturation_threshold(torch.as_tensor(t.water_scalar.values)).numpy() / 5.0
    tw, ew, th = t.true_params.values[tr, j], p.params.values[idx, j][tr], thr[tr]
    r_e = np.corrcoef(logit(ew), logit(th))[0, 1]
    r_t = np.corrcoef(logit(tw), logit(th))[0, 1]
    print(
        f"| {name} | {verdict} | {r_e:.2f} | {r_t:.2f} | {np.mean(ew >= th):.0%} | {np.mean(tw >= th):.0%} |"
    )
