#!/bin/bash
# usage: queue2.sh LIST TAGLOG: after the running reruns, the reruns of LIST
cd /work/lab/s72
while pgrep -f "[x]args -P 2 -L 1 bash prun.sh" > /dev/null; do sleep 10; done
cat $1 | xargs -P 2 -L 1 bash prun.sh >> $2 2>&1
