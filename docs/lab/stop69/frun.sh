#!/bin/bash
# usage: frun.sh SPEC NAME TAG: GP-stage rerun with the lab flat-topped link (FLAT=SPEC)
export FLAT=$1
bash /work/lab/s69/gprun2.sh src_flat $2 $3 fresh/$2.nc
