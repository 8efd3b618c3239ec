#!/bin/bash
# usage: chain3.sh FAM SEED: run1.sh (demo with temper [0.3], from scratch), then the untempered GP-stage rerun
cd /work/lab/s71
bash run1.sh $1 $2 > /dev/null
n=$1$2
echo $n demo71 $(python score.py fresh/$n.nc fresh/run_$n fresh/p_$n.nc fresh/id_$n.nc) $(grep -o 'log evidence -[0-9.]* (round [0-9]* of [0-9]*' fresh/run_$n/train.log) $(cat fresh/$n.time)
bash prun.sh $n U --set "train.gp_prior.temper=[]"
