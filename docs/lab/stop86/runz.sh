#!/bin/bash
# usage: runz.sh FAM SEED NOISE: the truth with NOISE (log sd) instead of 0.1, the acceptance command from scratch (tag z<NOISE>)
set -e
cd /work/lab/s86/fresh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${PKG:-/work/wt86/src}
n=$1$2; z=$3; tag=z$z
python /work/wt86/benchmarks/recovery_truths.py --truth $1 --seed $2 --sites 3000 --noise $z --out ${n}_$tag.nc > ${n}_$tag.truth.log 2>&1
/usr/bin/time -f "%U %S %e" -o ${tag}_$n.time python -m soilbinn train --data ${n}_$tag.nc --config demo --set "model.learned=[efolding,tau4s3,fs1s3,w_scaling]" --set model.fixed_from=true_params --set data.split=spatial --run-dir run_${tag}_$n > ${tag}_$n.train.log 2>&1
python -m soilbinn predict run_${tag}_$n --data ${n}_$tag.nc --out p_${tag}_$n.nc --overwrite > ${tag}_$n.pred.log 2>&1
cd ..; echo $n $tag $(python score.py fresh/${n}_$tag.nc fresh/run_${tag}_$n fresh/p_${tag}_$n.nc fresh/id_$n.nc) $(grep -o 'log evidence -[0-9.]*' fresh/run_${tag}_$n/train.log | tail -1) $(cat fresh/${tag}_$n.time)
