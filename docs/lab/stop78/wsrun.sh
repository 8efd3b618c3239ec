#!/bin/bash
# usage: wsrun.sh NAME TAG MODE [--set ...]: the saturated hypothesis on run_d_NAME's network (LAB_WSAT=MODE)
set -e
cd /work/lab/s78
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/work/lab/s78/pkg/src LAB_WSAT=$3
n=$1; tag=$2; shift 3
out=runs/${n}_$tag
rm -rf $out
python /work/main/benchmarks/gp_stage_rerun.py fresh/run_d_$n fresh/$n.nc $out "$@" > $out.log 2>&1 || true
echo $n $tag $(python wsatsc.py $n $out) $(grep -o "LAB wsat.*" $out/train.log | tr '\n' ' ')
