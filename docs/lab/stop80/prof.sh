#!/bin/bash
# usage: prof.sh FAM SEED: demo from scratch under cProfile
set -e
cd /work/lab/s80/fresh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
n=$1$2
bash /work/lab/s80/gen.sh $1 $2
/usr/bin/time -f "%U %S %e" -o prof_$n.time python -m cProfile -o prof_$n.out -m soilbinn train --data $n.nc --config demo --set "model.learned=[efolding,tau4s3,fs1s3,w_scaling]" --set model.fixed_from=true_params --set data.split=spatial --run-dir run_n_$n > n_$n.train.log 2>&1
soilbinn predict run_n_$n --data $n.nc --out p_n_$n.nc --overwrite > n_$n.pred.log 2>&1
echo done $n
