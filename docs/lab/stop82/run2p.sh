#!/bin/bash
# usage: run2p.sh FAM SEED: the acceptance command from scratch with the candidate (demo +
# w_margin [0.98, 1.02], start_paths [both, tempered], w_probe; tag c), then demo's GP
# stage from the same network (tag old)
cd /work/lab/s82
PKG=/work/wt82/src bash run2.sh $1 $2 c --set "train.gp_prior.w_margin=[0.98,1.02]" --set "train.gp_prior.start_paths=[both,tempered]" --set "train.gp_prior.w_probe=[0.95,0.9,0.8,0.7,0.6,0.5]" >> f2.log 2>&1
n=$1$2
rm -rf fresh/run_n_$n && ln -s run_c_$n fresh/run_n_$n
PKG=/work/wt82/src BENCH=/work/wt82/benchmarks bash pkrunt.sh $n old >> pk2_old.log 2>&1
