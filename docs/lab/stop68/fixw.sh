#!/bin/bash
# usage: fixw.sh NAME: acceptance command with w_scaling fixed at its truth (3 learned)
set -e
cd /work/lab/s68
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
n=$1; out=runs/${n}_fixw
/usr/bin/time -f "%U %S %e" -o $out.time soilbinn train --data fresh/$n.nc --config demo --set "model.learned=[efolding,tau4s3,fs1s3]" --set model.fixed_from=true_params --set data.split=spatial --run-dir $out > $out.log 2>&1
soilbinn predict $out --data fresh/$n.nc --out $out.p.nc --overwrite > $out.plog 2>&1
echo $n fixw $(python score.py fresh/$n.nc $out $out.p.nc) $(cat $out.time)
