#!/bin/bash
# usage: gprun2.sh SRC NAME TAG DATA [--set ...]
set -e
cd /work/lab/s70
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/work/lab/s70/$1
n=$2; tag=$3; data=$4; shift 4
out=runs/${n}_$tag
/usr/bin/time -f "%U %S %e" -o $out.time python /work/main/benchmarks/gp_stage_rerun.py fresh/run_$n $data $out "$@" > $out.log 2>&1
python -m soilbinn predict $out --data fresh/$n.nc --out $out.p.nc --overwrite > $out.plog 2>&1
echo $n $tag $(python score.py fresh/$n.nc $out $out.p.nc fresh/id_$n.nc) $(grep -o 'log evidence -[0-9.]*' $out/train.log | tail -1) $(cat $out.time)
