#!/bin/bash
# runs bo.sh NAME a (depth 4, leaf 20, eta 0.3, 60 rounds) on each truth of list once its demo prediction exists
cd /work/lab/s81
while read f s; do
  n=$f$s
  [ -f bo/${n}_a.log ] && continue
  while [ ! -f fresh/p_n_$n.nc ] || ! grep -q "done n $n" f.log; do sleep 20; done
  bash bo.sh $n a --rounds 60 --every 10 >> bo.log
done < list
