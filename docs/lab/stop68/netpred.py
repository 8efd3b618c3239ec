"""netpred.py RUN T.nc OUT.nc : the network's own prediction (the GP stage's start)"""

import sys

import xarray as xr

from soilbinn.training.predict import load_run, predict_dataset

run = load_run(sys.argv[1])
run.model.param_net = run.model.param_net.net
ds = xr.open_dataset(sys.argv[2])
predict_dataset(run, ds).to_netcdf(sys.argv[3])
