#!/bin/bash
# usage: tr.sh NAME TAG [--set ...]: GP-stage rerun with the forests' leaves as cells (lab patch, wt84r)
cd /work/lab/s84
n=$1; tag=$2; shift 2
export LAB_TREE=/work/lab/s84/runs/${n}_$tag.tree.pkl
PKG=/work/wt84r/src BENCH=/work/wt84r/benchmarks bash pkrunt.sh $n $tag --set "train.gp_prior.cells=[10]" "$@"
