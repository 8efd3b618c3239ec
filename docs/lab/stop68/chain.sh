#!/bin/bash
# usage: chain.sh FAM SEED: demo from scratch, then the floor-1 GP-stage rerun of its network
bash /work/lab/s68/run1.sh $1 $2 > /dev/null 2>&1
WFLOOR=1 bash /work/lab/s68/gprun2.sh src_wfloor $1$2 wfl1 fresh/$1$2.nc
