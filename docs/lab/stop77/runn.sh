#!/bin/bash
# usage: runn.sh FAM SEED N TAG [--set ...]: the acceptance command at N sites (demo + the sets)
set -e
cd /work/lab/s77/fresh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
n=$1$2n$3; tag=$4; fam=$1; seed=$2; sites=$3; shift 4
if [ ! -f id_$n.nc ]; then
  python /work/main/benchmarks/recovery_truths.py --truth $fam --seed $seed --sites $sites --out $n.nc > $n.truth.log 2>&1
  soilbinn identifiability $n.nc --learned efolding,tau4s3,fs1s3,w_scaling --out id_$n.nc > $n.id.log 2>&1
fi
/usr/bin/time -f "%U %S %e" -o ${tag}_$n.time soilbinn train --data $n.nc --config demo --set "model.learned=[efolding,tau4s3,fs1s3,w_scaling]" --set model.fixed_from=true_params --set data.split=spatial "$@" --run-dir run_${tag}_$n > ${tag}_$n.train.log 2>&1
soilbinn predict run_${tag}_$n --data $n.nc --out p_${tag}_$n.nc --overwrite > ${tag}_$n.pred.log 2>&1
echo $n $tag $(python /work/lab/s77/score.py $n.nc run_${tag}_$n p_${tag}_$n.nc id_$n.nc) $(grep -o 'log evidence -[0-9.]*' run_${tag}_$n/train.log | tail -1) $(grep -o "cells raise.*" run_${tag}_$n/train.log | grep -o "kept\|dropped" | tr '\n' ,) $(cat ${tag}_$n.time)
