#!/bin/bash
# after the prun queue q4: q5 (demo from scratch), then q6 (their cells reruns)
cd /work/lab/s77
while pgrep -f "L 1 bash prun.sh" > /dev/null; do sleep 10; done
cat q5 | xargs -P 2 -L 1 bash run2.sh >> runs.log 2>&1
cat q6 | xargs -P 2 -L 1 bash prun.sh >> pruns.log 2>&1
