#!/bin/bash
# after the second batch: single-path reruns of its misses (list_p), then the third batch
cd /work/lab/s73
while pgrep -f "[x]args -P 2 -L 1 bash run1.sh" > /dev/null; do sleep 20; done
cat list_p | xargs -P 2 -L 1 bash prun.sh >> runs_p.log 2>&1
cat list3 | xargs -P 2 -L 1 bash run1.sh > runs3.log 2>&1
