#!/bin/bash
cd /work/lab/s77
while pgrep -f "chain5.sh" > /dev/null; do sleep 10; done
cat q7 | xargs -P 2 -L 1 bash runn.sh >> nruns.log 2>&1
