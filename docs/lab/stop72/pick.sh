#!/bin/bash
# usage: pick.sh TAG: per truth, the evidence of demo and of rerun TAG, and the score of the higher
cd /work/lab/s72
for f in $(awk '{print $1$2}' list); do
  r=runs/${f}_$1
  [ -f $r.p.nc ] || continue
  a=$(grep -o 'log evidence -[0-9.]*' fresh/run_$f/train.log | tail -1 | awk '{print $3}')
  b=$(grep -o 'log evidence -[0-9.]*' $r/train.log | tail -1 | awk '{print $3}')
  if python -c "import sys; sys.exit(0 if $a >= $b else 1)"; then w=demo; p=fresh/p_$f.nc; else w=$1; p=$r.p.nc; fi
  echo $f $a $b $w $(python score.py fresh/$f.nc fresh/run_$f $p fresh/id_$f.nc)
done
