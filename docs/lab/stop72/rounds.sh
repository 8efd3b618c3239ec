#!/bin/bash
# usage: rounds.sh TAG: per truth, the round evidences of demo and of rerun TAG
cd /work/lab/s72
for f in $(awk '{print $1$2}' list); do
  r=runs/${f}_$1
  [ -f $r.p.nc ] || continue
  a=$(grep -o 'round [0-9], misfit [0-9.]*, log evidence -[0-9.]*' fresh/run_$f/train.log | awk "{printf \"%s \", \$NF}")
  b=$(grep -o 'round [0-9], misfit [0-9.]*, log evidence -[0-9.]*' $r/train.log | awk "{printf \"%s \", \$NF}")
  echo "$f | demo $a | $1 $b"
done
