#!/bin/bash
# usage: runrck.sh FAM SEED KIND: the acceptance command on the truth with regions of KIND (not
# the truth's own) as a category, written by benchmarks/recovery_truths.py --regions-as-category KIND
cd /work/lab/s84/fresh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/work/wt84/src
n=$1$2; k=$3; m=${n}_rc$k
[ -f $m.nc ] || python /work/main/benchmarks/recovery_truths.py --truth $1 --seed $2 --sites 3000 --regions-as-category $k --out $m.nc > $m.truth.log 2>&1
/usr/bin/time -f "%U %S %e" -o rc_$m.time python -m soilbinn train --data $m.nc --config demo --set "model.learned=[efolding,tau4s3,fs1s3,w_scaling]" --set model.fixed_from=true_params --set data.split=spatial --run-dir run_rc_$m > rc_$m.train.log 2>&1
python -m soilbinn predict run_rc_$m --data $m.nc --out p_rc_$m.nc --overwrite > rc_$m.pred.log 2>&1
echo $m rc $(python ../score.py $m.nc run_rc_$m p_rc_$m.nc id_$n.nc) $(grep -o 'log evidence -[0-9.]*' run_rc_$m/train.log | tail -1) $(cat rc_$m.time)
