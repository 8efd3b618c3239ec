#!/bin/bash
# usage: run2.sh FAM SEED TAG [--set ...]: the acceptance command (demo + the sets) from scratch
set -e
cd /work/lab/s86/fresh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${PKG:-/work/wt86/src}
n=$1$2; tag=$3; shift 3
bash /work/lab/s86/gen.sh ${n%%[0-9]*} ${n##*[a-z]}
/usr/bin/time -f "%U %S %e" -o ${tag}_$n.time python -m soilbinn train --data $n.nc --config demo --set "model.learned=[efolding,tau4s3,fs1s3,w_scaling]" --set model.fixed_from=true_params --set data.split=spatial "$@" --run-dir run_${tag}_$n > ${tag}_$n.train.log 2>&1
python -m soilbinn predict run_${tag}_$n --data $n.nc --out p_${tag}_$n.nc --overwrite > ${tag}_$n.pred.log 2>&1
echo done $tag $n
