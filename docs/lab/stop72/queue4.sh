#!/bin/bash
# usage: queue4.sh: after the confirmation runs, their tempered-only and untempered reruns
cd /work/lab/s72
while pgrep -f "[q]ueue3.sh" > /dev/null; do sleep 10; done
cat list2_re | xargs -P 2 -L 1 bash prun.sh >> runs2_re.log 2>&1
