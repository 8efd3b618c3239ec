#!/bin/bash
# usage: nn.sh NAME: the acceptance command on the truth's noise-free SOC
set -e
cd /work/lab/s70/fresh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
n=$1
python ../nonoise.py $n.nc nn_$n.nc
/usr/bin/time -f "%U %S %e" -o nn_$n.time soilbinn train --data nn_$n.nc --config demo --set "model.learned=[efolding,tau4s3,fs1s3,w_scaling]" --set model.fixed_from=true_params --set data.split=spatial --run-dir run_nn_$n > nn_$n.train.log 2>&1
soilbinn predict run_nn_$n --data nn_$n.nc --out p_nn_$n.nc --overwrite > nn_$n.pred.log 2>&1
echo $n nonoise $(python ../score.py $n.nc run_nn_$n p_nn_$n.nc id_$n.nc) $(cat nn_$n.time)
