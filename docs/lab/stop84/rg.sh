#!/bin/bash
# usage: rg.sh NAME TAG FILE: GP-stage rerun of demo's network with the regions of FILE (category
# `region`) as cells, kept or dropped by the cells' gate (lab patch, wt84r)
cd /work/lab/s84
n=$1; tag=$2
export LAB_REGION_FILE=/work/lab/s84/fresh/$3
PKG=/work/wt84r/src BENCH=/work/wt84r/benchmarks bash pkrunt.sh $n $tag --set "train.gp_prior.cells=[10]"
