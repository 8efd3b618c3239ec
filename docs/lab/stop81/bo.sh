#!/bin/bash
# usage: bo.sh NAME TAG [boost.py options]: boosting from run_n_NAME's prediction
cd /work/lab/s81
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/work/wt81/src
n=$1; tag=$2; shift 2
python boost.py fresh/run_n_$n fresh/$n.nc fresh/id_$n.nc bo/${n}_$tag.npz --start pred:fresh/p_n_$n.nc "$@" 2>&1 | grep -v Warning > bo/${n}_$tag.log
echo $n $tag $(python score.py fresh/$n.nc fresh/run_n_$n fresh/p_n_$n.nc fresh/id_$n.nc) "->" $(tail -1 bo/${n}_$tag.log)
