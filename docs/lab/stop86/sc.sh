#!/bin/bash
# usage: sc.sh TAG [LIST]: score every finished run of TAG
cd /work/lab/s86
for f in $(awk '{print $1$2}' ${2:-list}); do
  [ -f fresh/p_$1_$f.nc ] || continue
  echo $f $(python score.py fresh/$f.nc fresh/run_$1_$f fresh/p_$1_$f.nc fresh/id_$f.nc) $(grep -o 'log evidence -[0-9.]*' fresh/run_$1_$f/train.log | tail -1) $(cat fresh/$1_$f.time)
done
