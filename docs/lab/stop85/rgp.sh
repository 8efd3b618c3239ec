#!/bin/bash
# usage: rgp.sh FAM SEED KIND: the acceptance command plus train.gp_prior.regions=[region] on
# the truth with the regions of KIND as the category `region` (recovery_truths.py
# --regions-as-category KIND), the package at /work/wt85
cd /work/lab/s85/fresh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/work/wt85/src
n=$1$2; k=$3; m=${n}_rc$k
[ -f $m.nc ] || python /work/wt85/benchmarks/recovery_truths.py --truth $1 --seed $2 --sites 3000 --regions-as-category $k --out $m.nc > $m.truth.log 2>&1
[ -f id_$n.nc ] || python -m soilbinn identifiability $m.nc --learned efolding,tau4s3,fs1s3,w_scaling --out id_$n.nc > $n.id.log 2>&1
/usr/bin/time -f "%U %S %e" -o rgp_$m.time python -m soilbinn train --data $m.nc --config demo --set "model.learned=[efolding,tau4s3,fs1s3,w_scaling]" --set model.fixed_from=true_params --set data.split=spatial --set "train.gp_prior.regions=[region]" --run-dir run_rgp_$m > rgp_$m.train.log 2>&1
python -m soilbinn predict run_rgp_$m --data $m.nc --out p_rgp_$m.nc --overwrite > rgp_$m.pred.log 2>&1
echo $n rgp $(python ../score.py $m.nc run_rgp_$m p_rgp_$m.nc id_$n.nc) $(grep -o 'log evidence -[0-9.]*' run_rgp_$m/train.log | tail -1) $(cat rgp_$m.time)
