#!/bin/bash
# after the main queue: the pk8 rerun with a fifth round
cd /work/lab/s79
while pgrep -f "xargs -P 2 -L 1 bash one.sh" > /dev/null; do sleep 20; done
for n in $(awk '{print $1$2}' list); do echo "$n pk8r5 --set train.gp_prior.w_pattern=0.8 --set train.gp_prior.rounds=5"; done | xargs -P 2 -L 1 bash pkrunm.sh >> pk5.log 2>&1
