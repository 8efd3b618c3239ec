#!/bin/bash
cd /work/lab/s75
sleep 30
while pgrep -f "bash chainq.sh" > /dev/null || pgrep -f "bash chainq8.sh" > /dev/null; do sleep 10; done
cat q9 | xargs -P 2 -L 1 bash run3.sh >> runs.log 2>&1
