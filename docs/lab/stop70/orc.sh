#!/bin/bash
# usage: orc.sh NAME: GP stage with the truth's hyperparameters
cd /work/lab/s70
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
n=$1
python /work/main/benchmarks/gp_oracle_hyperparameters.py fresh/run_$n fresh/$n.nc runs/${n}_oracle > runs/${n}_oracle.log 2>&1
soilbinn predict runs/${n}_oracle --data fresh/$n.nc --out runs/${n}_oracle.p.nc --overwrite > /dev/null 2>&1
echo $n oracle $(python score.py fresh/$n.nc runs/${n}_oracle runs/${n}_oracle.p.nc fresh/id_$n.nc)
