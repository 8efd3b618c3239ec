#!/bin/bash
# usage: orun.sh SCRIPT NAME TAG [--set ...]: GP-stage rerun of run_n_NAME through a lab
# rerun script (tpat.py: the truth's saturation pattern as the start; tstart.py: the truth;
# ppat.py: a pattern from the per-site test), then predict and score
set -e
cd /work/lab/s86; mkdir -p runs
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/work/wt86/src
script=$1; n=$2; tag=$3; shift 3
out=runs/${n}_$tag
rm -rf $out
/usr/bin/time -f "%U %S %e" -o $out.time python $script fresh/run_n_$n fresh/$n.nc $out "$@" > $out.log 2>&1
python -m soilbinn predict $out --data fresh/$n.nc --out $out.p.nc --overwrite > $out.plog 2>&1
echo $n $tag $(python score.py fresh/$n.nc $out $out.p.nc fresh/id_$n.nc) $(grep -o 'log evidence -[0-9.]*' $out/train.log | tail -1) $(cat $out.time)
