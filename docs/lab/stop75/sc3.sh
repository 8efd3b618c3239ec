#!/bin/bash
# usage: sc3.sh TAG NAME...: score runs of run3.sh
cd /work/lab/s75
t=$1; shift
for n in "$@"; do
  [ -f fresh/p_${t}_$n.nc ] || continue
  echo $n $t $(python score.py fresh/$n.nc fresh/run_${t}_$n fresh/p_${t}_$n.nc fresh/id_$n.nc) $(grep -o 'log evidence -[0-9.]*' fresh/run_${t}_$n/train.log | tail -1) $(cat fresh/${t}_$n.time)
done
