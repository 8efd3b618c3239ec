#!/bin/bash
# usage: gprun.sh NAME TAG DATA [--set ...]: GP-stage rerun of fresh/run_NAME on DATA, scored against fresh/NAME.nc
set -e
cd /work/lab/s68
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
n=$1; tag=$2; data=$3; shift 3
out=runs/${n}_$tag
/usr/bin/time -f "%U %S %e" -o $out.time python /work/main/benchmarks/gp_stage_rerun.py fresh/run_$n $data $out "$@" > $out.log 2>&1
python -m soilbinn predict $out --data fresh/$n.nc --out $out.p.nc --overwrite > $out.plog 2>&1
echo $n $tag $(python score.py fresh/$n.nc $out $out.p.nc fresh/id_$n.nc) $(grep -o 'log evidence -[0-9.]*' $out/train.log | tail -1) $(cat $out.time)
