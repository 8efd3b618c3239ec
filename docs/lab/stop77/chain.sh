#!/bin/bash
# usage: chain.sh Q...: run the queues one after another, 2 at a time
cd /work/lab/s77
while pgrep -f "L 1 bash run2.sh" > /dev/null; do sleep 10; done
for q in "$@"; do cat $q | xargs -P 2 -L 1 bash run2.sh >> runs.log 2>&1; done
