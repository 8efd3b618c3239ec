#!/bin/bash
# after the fifth-round reruns, on nine truths (sub9): the network's w_scaling at the moved
# sites (lab LAB_WNET, with w_pattern 0.8), and w_scaling's prior mean the network's (LAB_WMU)
cd /work/lab/s79
while pgrep -f "bash after.sh" > /dev/null; do sleep 20; done
for n in $(cat sub9); do
  [ -f runs/${n}_wnet.p.nc ] || echo "LAB_WNET=1 bash lrun.sh $n wnet --set train.gp_prior.w_pattern=0.8 >> wnet.log 2>&1"
  [ -f runs/${n}_wmu.p.nc ] || echo "LAB_WMU=1 bash lrun.sh $n wmu >> wmu.log 2>&1"
done > q2
cat q2 | xargs -P 2 -I{} bash -c "{}"
