#!/bin/bash
# usage: queue.sh: after the demo runs, the untempered and the second-draw reruns
cd /work/lab/s72
while pgrep -f "[x]args -P 2 -L 1 bash run1.sh" > /dev/null; do sleep 20; done
cat list_old | xargs -P 2 -L 1 bash prun.sh >> runs_old.log 2>&1
cat list_s1 | xargs -P 2 -L 1 bash prun.sh >> runs_s1.log 2>&1
