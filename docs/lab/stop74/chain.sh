#!/bin/bash
# usage: chain.sh QUEUE: wait for the running run2 queue, then run QUEUE two at a time
cd /work/lab/s74
while pgrep -f "^xargs -P 2 -L 1 bash run2.sh" > /dev/null; do sleep 10; done
cat $1 | xargs -P 2 -L 1 bash run2.sh >> runs.log 2>&1
