#!/bin/bash
# after the first batch, the second
cd /work/lab/s73
while pgrep -f "[x]args -P 2 -L 1 bash run1.sh" > /dev/null; do sleep 20; done
cat list2 | xargs -P 2 -L 1 bash run1.sh > runs2.log 2>&1
