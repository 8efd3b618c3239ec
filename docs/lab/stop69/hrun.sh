#!/bin/bash
# usage: hrun.sh Q L NAME TAG [M]: GP-stage rerun with the lab hinge prior (WHINGE_Q, WHINGE_L, WHINGE_M)
export WHINGE_Q=$1 WHINGE_L=$2 WHINGE_M=${5:-0.98}
bash /work/lab/s69/gprun2.sh src_whinge $3 $4 fresh/$3.nc
