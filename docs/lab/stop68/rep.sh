#!/bin/bash
# usage: rep.sh NAME MODE(gp|full)  -> parametric bootstrap replicate of fresh/run_NAME
set -e
cd /work/lab/s68
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
n=$1; mode=$2
[ -f rep/$n.nc ] || python replicate.py fresh/$n.nc fresh/p_$n.nc rep/$n.nc 1 > /dev/null
if [ $mode = gp ]; then
  out=rep/gp_$n
  /usr/bin/time -f "%U %S %e" -o $out.time python /work/main/benchmarks/gp_stage_rerun.py fresh/run_$n rep/$n.nc $out > $out.log 2>&1
else
  out=rep/full_$n
  /usr/bin/time -f "%U %S %e" -o $out.time soilbinn train --data rep/$n.nc --config demo --set "model.learned=[efolding,tau4s3,fs1s3,w_scaling]" --set model.fixed_from=true_params --set data.split=spatial --run-dir $out > $out.log 2>&1
fi
soilbinn predict $out --data rep/$n.nc --out $out.p.nc --overwrite > $out.plog 2>&1
echo done $n $mode $(cat $out.time)
