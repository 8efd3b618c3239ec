#!/bin/bash
# runs bo.sh NAME b (depth 3, leaf 50, eta 0.3, 30 rounds) on each truth of list
cd /work/lab/s81
while read f s; do
  n=$f$s
  bash bo.sh $n b --rounds 30 --every 10 --depth 3 --leaf 50 >> bo_b.log
done < list
