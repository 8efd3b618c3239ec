"""cal.py TAG LIST: per truth, at the held-out sites, for efolding / tau4s3 / fs1s3 / w_scaling:
R2 achieved, R2 the posterior expects (1 - mean sd^2 / (var pred + mean sd^2), unit scale),
coverage of the 90% interval (params_p05..p95), mean squared z-score in logits."""

import sys

import numpy as np
import pandas as pd
import xarray as xr

tag, lst = sys.argv[1], sys.argv[2]
P = ["efolding", "tau4s3", "fs1s3", "w_scaling"]
rows = []
for name in [ln.split()[0] for ln in open(lst) if ln.strip()]:
    try:
        p = xr.open_dataset(f"fresh/p_{tag}_{name}.nc")
    except FileNotFoundError:
        continue
    t = xr.open_dataset(f"fresh/{name}.nc")
    split = pd.read_csv(f"fresh/run_{tag}_{name}/split.csv")
    test = split.site[split.split == "test"].astype(str).values
    ti = pd.Index([str(s) for s in t.site.values]).get_indexer(test)
    pi = pd.Index([str(s) for s in p.site.values]).get_indexer(test)
    names = [str(x) for x in t.param.values]
    out = {"truth": name}
    if "params_sd" not in p:
        print(name, "no params_sd")
        continue
    for q in P:
        j = names.index(q)
        tt = t.true_params.values[ti, j]
        pp = p.params.values[pi, j]
        sd = p.params_sd.values[pi, j]
        lo = p.params_p05.values[pi, j]
        hi = p.params_p95.values[pi, j]
        r2 = 1 - ((pp - tt) ** 2).sum() / ((tt - tt.mean()) ** 2).sum()
        exp = 1 - np.mean(sd**2) / (np.var(pp) + np.mean(sd**2))
        cov = np.mean((tt >= lo) & (tt <= hi))
        lsd = (np.log(hi / (1 - hi)) - np.log(lo / (1 - lo))) / (2 * 1.6448536)
        z = (np.log(tt / (1 - tt)) - np.log(pp / (1 - pp))) / lsd
        out.update({f"{q}_r2": r2, f"{q}_exp": exp, f"{q}_cov": cov, f"{q}_z2": np.mean(z**2)})
    rows.append(out)
df = pd.DataFrame(rows)
df.to_csv(f"cal_{tag}_{lst}.csv", index=False)
with pd.option_context("display.width", 250, "display.max_columns", 30, "display.precision", 3):
    print(df)
