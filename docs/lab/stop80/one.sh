#!/bin/bash
# usage: one.sh FAM SEED: demo from scratch (the stop 80 package), then the GP-stage reruns
# with the package before stop 80 (old) and with five rounds (r5)
cd /work/lab/s80
bash run2.sh $1 $2 n >> f.log 2>&1
PKG=/work/wt80/src bash pkrunt.sh $1$2 old >> pk.log 2>&1
bash pkrunt.sh $1$2 r5 --set train.gp_prior.rounds=5 >> pk.log 2>&1
