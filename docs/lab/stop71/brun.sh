#!/bin/bash
# usage: brun.sh NAME TAG [--set ...]: GP-stage rerun + tree correction (boost.py)
cd /work/lab/s71
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
n=$1; tag=$2; shift 2
out=runs/${n}_$tag
/usr/bin/time -f "%U %S %e" -o $out.time python boost.py fresh/run_$n fresh/$n.nc $out "$@" > $out.log 2>&1
echo $n $tag $(python bscore.py fresh/$n.nc $out fresh/id_$n.nc) $(grep -o 'boost: refresh.*' $out/train.log | cut -c1-140) $(cat $out.time)
