#!/bin/bash
cd /work/lab/s76
while pgrep -f "L 1 bash run2.sh" > /dev/null; do sleep 20; done
cat q4 | xargs -P 2 -L 1 bash run2.sh >> runs.log 2>&1
