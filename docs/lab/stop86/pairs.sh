#!/bin/bash
# usage: pairs.sh FAM SEED: the acceptance command plus train.gp_prior.regions=[lc_tex,lc_cz,tex_cz]
# on the truth with each pair of its categorical covariates as a category (addpairs.py)
cd /work/lab/s86/fresh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/work/wt86/src
n=$1$2; m=${n}_pairs
bash /work/lab/s86/gen.sh $1 $2
[ -f $m.nc ] || python ../addpairs.py $n.nc $m.nc > $m.log 2>&1
/usr/bin/time -f "%U %S %e" -o pr_$m.time python -m soilbinn train --data $m.nc --config demo --set "model.learned=[efolding,tau4s3,fs1s3,w_scaling]" --set model.fixed_from=true_params --set data.split=spatial --set "train.gp_prior.regions=[lc_tex,lc_cz,tex_cz]" --run-dir run_pr_$m > pr_$m.train.log 2>&1
python -m soilbinn predict run_pr_$m --data $m.nc --out p_pr_$m.nc --overwrite > pr_$m.pred.log 2>&1
echo $n pr $(python ../score.py $m.nc run_pr_$m p_pr_$m.nc id_$n.nc) $(grep -o 'log evidence -[0-9.]*' run_pr_$m/train.log | tail -1) $(cat pr_$m.time)
