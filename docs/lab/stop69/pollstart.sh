#!/bin/bash
# usage: pollstart.sh LIST: for each truth in LIST, once its demo run is done, the GP-stage rerun with mean: start
cd /work/lab/s69
while read f s; do
  n=$f$s
  while [ ! -f fresh/id_$n.nc ] || [ ! -f fresh/p_$n.nc ]; do sleep 10; done
  sleep 5
  bash prun.sh $n start --set train.gp_prior.mean=start
done < $1
