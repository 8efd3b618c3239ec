#!/bin/bash
# usage: one.sh FAM SEED: demo from scratch, then the GP-stage rerun with w_pattern 0.8
cd /work/lab/s79
bash run2.sh $1 $2 n >> f.log 2>&1
bash pkrunm.sh $1$2 pk8 --set train.gp_prior.w_pattern=0.8 >> pk.log 2>&1
