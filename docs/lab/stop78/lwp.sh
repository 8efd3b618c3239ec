#!/bin/bash
# usage: lwp.sh NAME TAG R0 OTHERS [--set ...]: GP-stage rerun with the lab package's in-stage w
# pattern move (LAB_WPAT: after the selection, w_scaling at 1.02 x threshold where the mode
# has it at >= R0 of its threshold; OTHERS=net also resets the other parameters there)
set -e
cd /work/lab/s78
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/work/lab/s78/pkg/src LAB_WPAT=1 LAB_WPAT_R0=$3 LAB_WPAT_OTHERS=$4
n=$1; tag=$2; shift 4
out=runs/${n}_$tag
rm -rf $out
python /work/main/benchmarks/gp_stage_rerun.py fresh/run_d_$n fresh/$n.nc $out "$@" > $out.log 2>&1
python -m soilbinn predict $out --data fresh/$n.nc --out $out.p.nc --overwrite > $out.plog 2>&1
echo $n $tag $(python score.py fresh/$n.nc $out $out.p.nc fresh/id_$n.nc) $(grep -o 'log evidence -[0-9.]*' $out/train.log | tail -1) $(grep -o "LAB wpat.*" $out/train.log) $(grep -o "round [0-9], misfit.*" $out/train.log | tr '\n' ' ')
