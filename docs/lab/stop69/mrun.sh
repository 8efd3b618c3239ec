#!/bin/bash
# usage: mrun.sh NAME TAG: GP-stage rerun with the lab prior mean held at the network's (MEANNET=1)
export MEANNET=1
bash /work/lab/s69/gprun2.sh src_meannet $1 $2 fresh/$1.nc
