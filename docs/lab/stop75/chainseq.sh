#!/bin/bash
# usage: chainseq.sh Q1 Q2 ...: wait for the running run3 queue, then each queue in turn
cd /work/lab/s75
while pgrep -f "^xargs -P 2 -L 1 bash run3.sh" > /dev/null; do sleep 10; done
for q in "$@"; do cat $q | xargs -P 2 -L 1 bash run3.sh >> runs.log 2>&1; done
