#!/bin/bash
# usage: gen.sh FAM SEED: the truth and its identifiability (once)
set -e
cd /work/lab/s86/fresh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${PKG:-/work/wt86/src}
n=$1$2
[ -f id_$n.nc ] && exit 0
python /work/wt86/benchmarks/recovery_truths.py --truth $1 --seed $2 --sites 3000 --out $n.nc > $n.truth.log 2>&1
python -m soilbinn identifiability $n.nc --learned efolding,tau4s3,fs1s3,w_scaling --out id_$n.nc > $n.id.log 2>&1
