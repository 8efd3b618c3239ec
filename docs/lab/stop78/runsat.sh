#!/bin/bash
# usage: runsat.sh NAME: the saturated hypothesis: w_scaling fixed at 1.02 x threshold, 3 learned
set -e
cd /work/lab/s78/fresh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
n=$1
[ -f sat_$n.nc ] || python ../wsat.py $n.nc sat_$n.nc > sat_$n.log
soilbinn train --data sat_$n.nc --config demo --set "model.learned=[efolding,tau4s3,fs1s3]" --set model.fixed_from=true_params --set data.split=spatial --run-dir run_sat_$n > sat_$n.train.log 2>&1
soilbinn predict run_sat_$n --data sat_$n.nc --out p_sat_$n.nc --overwrite > sat_$n.pred.log 2>&1
cd ..; echo $n sat $(python score.py fresh/$n.nc fresh/run_sat_$n fresh/p_sat_$n.nc fresh/id_$n.nc) $(grep -o 'log evidence -[0-9.]*' fresh/run_sat_$n/train.log | tail -1) $(cat fresh/sat_$n.log)
