#!/bin/bash
cd /work/lab/s75
while pgrep -f "bash chainq9.sh" > /dev/null; do sleep 5; done
cat q10 | xargs -P 2 -L 1 bash run3.sh >> runs.log 2>&1
