#!/bin/bash
# run queue $2 once queue log $1 reports all its lines done
cd /work/lab/s89
while [ $(grep -c '^done' $1) -lt $(wc -l < ${1%.log}) ] && ! grep -q -i 'error\|failed' $1; do sleep 20; done
cat $2 | xargs -P 2 -I{} bash -c '{}'
