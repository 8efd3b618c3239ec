#!/bin/bash
# usage: timing.sh: demo and the candidate from scratch on mix 3327, one after the other,
# alone on the machine (one thread each)
cd /work/lab/s81
bash run2.sh mix 3327 t0 >> ft.log 2>&1
PKG=/work/wt81d/src bash run2.sh mix 3327 t1 --set "train.gp_prior.w_margin=[0.98,1.02]" --set "train.gp_prior.start_paths=[both,tempered]" --set "train.gp_prior.w_probe=[0.95,0.9,0.8,0.7,0.6,0.5]" >> ft.log 2>&1
echo demo $(cat fresh/t0_mix3327.time) candidate $(cat fresh/t1_mix3327.time)
