#!/bin/bash
# usage: runrc.sh FAM SEED [KIND]: the acceptance command on the truth with its regions as a category
cd /work/lab/s84/fresh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/work/wt84/src
n=$1$2
[ -f ${n}_rc.nc ] || (cd .. && python addcat.py $1 $2 $3)
/usr/bin/time -f "%U %S %e" -o rc_$n.time python -m soilbinn train --data ${n}_rc.nc --config demo --set "model.learned=[efolding,tau4s3,fs1s3,w_scaling]" --set model.fixed_from=true_params --set data.split=spatial --run-dir run_rc_$n > rc_$n.train.log 2>&1
python -m soilbinn predict run_rc_$n --data ${n}_rc.nc --out p_rc_$n.nc --overwrite > rc_$n.pred.log 2>&1
echo $n rc $(python ../score.py ${n}_rc.nc run_rc_$n p_rc_$n.nc id_$n.nc) $(grep -o 'log evidence -[0-9.]*' run_rc_$n/train.log | tail -1) $(cat rc_$n.time)
