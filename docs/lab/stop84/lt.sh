#!/bin/bash
# usage: lt.sh NAME TAG [--set ...]: GP-stage rerun with Laplace-gain trees grown at demo's fit (p_n_NAME)
cd /work/lab/s84
n=$1; tag=$2; shift 2
export LAB_TREE_FROM=/work/lab/s84/fresh/p_n_$n.nc
bash tr.sh $n $tag "$@"
