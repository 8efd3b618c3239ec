#!/bin/bash
# usage: queue3.sh: after the reruns, the confirmation truths from scratch with the new demo
cd /work/lab/s72
while pgrep -f "[x]args -P 2 -L 1 bash prun.sh" > /dev/null || pgrep -f "[q]ueue2.sh" > /dev/null; do sleep 10; done
cat list2 | xargs -P 2 -L 1 bash run1.sh >> runs2.log 2>&1
