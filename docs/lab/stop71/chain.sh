#!/bin/bash
# usage: chain.sh FAM SEED: run1.sh (demo, from scratch), then the T3 GP-stage rerun
cd /work/lab/s71
bash run1.sh $1 $2 > /dev/null
n=$1$2
echo $n demo $(python score.py fresh/$n.nc fresh/run_$n fresh/p_$n.nc fresh/id_$n.nc) $(grep -o 'log evidence -[0-9.]* (round [0-9]* of [0-9]*' fresh/run_$n/train.log) $(cat fresh/$n.time)
bash terun.sh $n T3 0.3
