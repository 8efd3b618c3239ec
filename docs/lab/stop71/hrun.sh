#!/bin/bash
# usage: hrun.sh NAME TAG FROMRUN: GP-stage rerun from the network with FROMRUN's kept hyperparameters
cd /work/lab/s71
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/work/lab/s71/srcH HYPER_LOAD=$3/checkpoints/best.pt
n=$1; tag=$2
out=runs/${n}_$tag
/usr/bin/time -f "%U %S %e" -o $out.time python /work/main/benchmarks/gp_stage_rerun.py fresh/run_$n fresh/$n.nc $out > $out.log 2>&1
python -m soilbinn predict $out --data fresh/$n.nc --out $out.p.nc --overwrite > $out.plog 2>&1
echo $n $tag $(python score.py fresh/$n.nc $out $out.p.nc fresh/id_$n.nc) $(grep -o 'log evidence -[0-9.]* (round [0-9]* of [0-9]*' $out/train.log) $(cat $out.time)
