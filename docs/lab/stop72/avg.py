"""avg.py T.nc RUN ID.nc P1.nc P2.nc [...]: score of the logit average of the predictions"""

import subprocess
import sys
import tempfile

import numpy as np
import xarray as xr

t, run, idf, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
ps = [xr.open_dataset(f) for f in files]
z = np.mean([np.log(p.params.values / (1 - p.params.values)) for p in ps], axis=0)
out = ps[0].copy()
out["params"] = (ps[0].params.dims, 1 / (1 + np.exp(-z)))
with tempfile.NamedTemporaryFile(suffix=".nc") as f:
    out.to_netcdf(f.name)
    r = subprocess.run(
        [sys.executable, "/work/lab/s72/score.py", t, run, f.name, idf],
        capture_output=True,
        text=True,
    )
print(r.stdout.strip())
