#!/bin/bash
# usage: sc.sh: score every finished demo run in fresh/
cd /work/lab/s72
for f in $(awk "{print \$1\$2}" ${LIST:-list}); do
  [ -f fresh/id_$f.nc ] || continue
  echo $f $(python score.py fresh/$f.nc fresh/run_$f fresh/p_$f.nc fresh/id_$f.nc) $(grep -o 'log evidence -[0-9.]*' fresh/run_$f/train.log | tail -1) $(cat fresh/$f.time)
done
