import sys

import pandas as pd
import xarray as xr

name, tag = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "n"
t = xr.open_dataset(f"fresh/{name}.nc")
p = xr.open_dataset(f"fresh/p_{tag}_{name}.nc")
split = pd.read_csv(f"fresh/run_{tag}_{name}/split.csv")
names = [str(x) for x in t.param.values]
out = []
for part in ("train", "test"):
    s = split.site[split.split == part].astype(str).values
    ti = pd.Index([str(x) for x in t.site.values]).get_indexer(s)
    r = []
    for q in ["efolding", "tau4s3", "fs1s3"]:
        j = names.index(q)
        tt, pp = t.true_params.values[ti, j], p.params.values[ti, j]
        r.append(1 - ((pp - tt) ** 2).sum() / ((tt - tt.mean()) ** 2).sum())
    out.append(f"{part} " + " / ".join(f"{v:.3f}" for v in r))
print(name, " | ".join(out))
