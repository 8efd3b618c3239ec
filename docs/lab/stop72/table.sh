#!/bin/bash
# usage: table.sh TAG...: per truth, demo, each rerun TAG and the logit average of demo with it
cd /work/lab/s72
for f in $(awk '{print $1$2}' list); do
  [ -f fresh/id_$f.nc ] || continue
  line="$f | $(python score.py fresh/$f.nc fresh/run_$f fresh/p_$f.nc fresh/id_$f.nc)"
  for tag in "$@"; do
    r=runs/${f}_$tag
    [ -f $r.p.nc ] || continue
    line="$line | $tag $(python score.py fresh/$f.nc fresh/run_$f $r.p.nc fresh/id_$f.nc) | avg $(python avg.py fresh/$f.nc fresh/run_$f fresh/id_$f.nc fresh/p_$f.nc $r.p.nc)"
  done
  echo "$line"
done
