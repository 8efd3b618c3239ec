#!/bin/bash
# usage: lprun.sh (the lab package; env LAB_*) BASE NAME TAG [--set ...]: GP-stage rerun of fresh/run_BASE_NAME with /work/main/src
set -e
cd /work/lab/s77
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
base=$1; n=$2; tag=$3; shift 3
export PYTHONPATH=/work/lab/s77/pkg/src
out=runs/${n}_$tag
/usr/bin/time -f "%U %S %e" -o $out.time python /work/main/benchmarks/gp_stage_rerun.py fresh/run_${base}_$n fresh/$n.nc $out "$@" > $out.log 2>&1
python -m soilbinn predict $out --data fresh/$n.nc --out $out.p.nc --overwrite > $out.plog 2>&1
echo $n $tag $(python score.py fresh/$n.nc $out $out.p.nc fresh/id_$n.nc) $(grep -o 'log evidence -[0-9.]*' $out/train.log | tail -1) $(cat $out.time)
