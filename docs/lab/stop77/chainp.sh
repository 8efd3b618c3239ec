#!/bin/bash
# usage: chainp.sh Q: after the run2 queues, GP-stage reruns (prun.sh lines) 2 at a time
cd /work/lab/s77
while pgrep -f "L 1 bash run2.sh" > /dev/null; do sleep 10; done
cat $1 | xargs -P 2 -L 1 bash prun.sh >> pruns.log 2>&1
