#!/bin/bash
cd /work/lab/s75
sleep 60
while pgrep -f "bash run3.sh" > /dev/null; do sleep 10; done
cat q8 | xargs -P 2 -L 1 bash run3.sh >> runs.log 2>&1
