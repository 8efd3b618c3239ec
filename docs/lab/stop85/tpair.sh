#!/bin/bash
# usage: tpair.sh: demo and demo + regions on blocks 3451 side by side, the only two processes
cd /work/lab/s85/fresh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/work/wt85/src
A='--config demo --set model.learned=[efolding,tau4s3,fs1s3,w_scaling] --set model.fixed_from=true_params --set data.split=spatial'
/usr/bin/time -f "%U %S %e" -o time_tdemo.txt python -m soilbinn train --data blocks3451.nc $A --run-dir run_tdemo > tdemo.log 2>&1 &
/usr/bin/time -f "%U %S %e" -o time_trgp.txt python -m soilbinn train --data blocks3451_rcblocks.nc $A --set "train.gp_prior.regions=[region]" --run-dir run_trgp > trgp.log 2>&1 &
wait
echo demo $(cat time_tdemo.txt) regions $(cat time_trgp.txt)
