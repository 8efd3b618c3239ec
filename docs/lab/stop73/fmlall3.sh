#!/bin/bash
# fml2 (bar 5) at each finished demo run's mode: which thresholds it would add
cd /work/lab/s73
export OMP_NUM_THREADS=1
for f in $(cat list3 | awk '{print $1$2}'); do
  [ -f fresh/id_$f.nc ] || continue
  [ -f runs/idest_$f.nc ] || soilbinn identifiability fresh/$f.nc --params-from fresh/p_$f.nc --learned efolding,tau4s3,fs1s3,w_scaling --out runs/idest_$f.nc > /dev/null 2>&1
  echo "== $f"; python fml2.py fresh/$f.nc fresh/run_$f runs/idest_$f.nc runs/fml2_$f.npy 5
done
