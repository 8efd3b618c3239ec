#!/bin/bash
# usage: terun.sh NAME TAG TEMPER: GP-stage rerun, the first rounds' likelihood tempered (srcT)
export TEMPER=$3
bash /work/lab/s71/gprun2.sh srcT $1 $2 fresh/$1.nc
