#!/bin/bash
# usage: run1.sh FAM SEED
set -e
cd /work/lab/s70/fresh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
n=$1$2
python /work/main/benchmarks/recovery_truths.py --truth $1 --seed $2 --sites 3000 --out $n.nc > $n.truth.log 2>&1
/usr/bin/time -f "%U %S %e" -o $n.time soilbinn train --data $n.nc --config demo --set "model.learned=[efolding,tau4s3,fs1s3,w_scaling]" --set model.fixed_from=true_params --set data.split=spatial --run-dir run_$n > $n.train.log 2>&1
soilbinn predict run_$n --data $n.nc --out p_$n.nc --overwrite > $n.pred.log 2>&1
soilbinn identifiability $n.nc --learned efolding,tau4s3,fs1s3,w_scaling --out id_$n.nc > $n.id.log 2>&1
echo done $n
