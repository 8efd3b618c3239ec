#!/bin/bash
# usage: [SCRIPT=sstart.py] trun.sh NAME TAG [--set ...]: GP-stage rerun from the truth
# (tstart.py; MODE env) or, with SCRIPT=sstart.py, with ridge starts (DELTA env)
cd /work/lab/s71
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
n=$1; tag=$2; shift 2
out=runs/${n}_$tag
/usr/bin/time -f "%U %S %e" -o $out.time python ${SCRIPT:-tstart.py} fresh/run_$n fresh/$n.nc $out "$@" > $out.log 2>&1
python -m soilbinn predict $out --data fresh/$n.nc --out $out.p.nc --overwrite > $out.plog 2>&1
echo $n $tag $(python score.py fresh/$n.nc $out $out.p.nc fresh/id_$n.nc) $(grep -o 'log evidence -[0-9.]*' $out/train.log | tail -1) $(grep -o "kept start [0-9]*" $out/train.log) $(cat $out.time)
