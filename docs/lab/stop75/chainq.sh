#!/bin/bash
# usage: chainq.sh QUEUE: wait for every run3.sh to end, then run QUEUE two at a time
cd /work/lab/s75
while pgrep -f "bash run3.sh" > /dev/null; do sleep 10; done
cat $1 | xargs -P 2 -L 1 bash run3.sh >> runs.log 2>&1
