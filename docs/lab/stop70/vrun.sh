#!/bin/bash
# usage: vrun.sh NAME SCALE: GP-stage rerun with the kernel variances times SCALE after each evidence fit
export GPVAR_SCALE=$2
bash /work/lab/s70/gprun2.sh srcv $1 v$2 fresh/$1.nc
