#!/bin/bash
# usage: prun.sh NAME TAG [--set ...]: GP-stage rerun with the package as it is in /work/main/src
n=$1; tag=$2; shift 2
bash /work/lab/s70/gprun2.sh ../../main/src $n $tag fresh/$n.nc "$@"
