#!/bin/bash
# usage: tp2run.sh NAME TAG R0 [--set ...]: GP-stage rerun from the pattern of demo's estimate (tpat2.py)
set -e
cd /work/lab/s78
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
n=$1; tag=$2; export R0=$3 PRED=fresh/p_d_$1.nc; shift 3
out=runs/${n}_$tag
rm -rf $out
python tpat2.py fresh/run_d_$n fresh/$n.nc $out "$@" > $out.log 2>&1
python -m soilbinn predict $out --data fresh/$n.nc --out $out.p.nc --overwrite > $out.plog 2>&1
echo $n $tag $(python score.py fresh/$n.nc $out $out.p.nc fresh/id_$n.nc) $(grep -o 'log evidence -[0-9.]*' $out/train.log | tail -1) $(grep -o "LAB pattern.*" $out.log)
