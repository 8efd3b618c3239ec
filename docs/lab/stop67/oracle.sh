#!/bin/bash
# usage: oracle.sh NAME  -> truth's support rerun
cd /work/lab/s67
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/work/lab/s67/src_main
n=$1; out=runs/${n}_support
/usr/bin/time -f "%U %S %e" -o $out.time python /work/main/benchmarks/gp_oracle_hyperparameters.py fresh/run_$n fresh/$n.nc $out --save runs/h_$n.npz --support > $out.log 2>&1
python -m soilbinn predict $out --data fresh/$n.nc --out $out.p.nc --overwrite > $out.plog 2>&1
echo $n support $(python score.py fresh/$n.nc $out $out.p.nc fresh/id_$n.nc) $(grep -o 'log evidence -[0-9.]*' $out/train.log | tail -1) $(cat $out.time)
