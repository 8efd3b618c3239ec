#!/bin/bash
# usage: fmlrerun.sh NAME: GP-stage rerun with the thresholds fml2.py chose (runs/fml2_NAME.npy)
cd /work/lab/s73
TREE_P=x TREE_EDGES=runs/fml2_$1.npy bash gprun2.sh src_tree $1 fml5 fresh/$1.nc --set train.gp_prior.covariate_thresholds=4
