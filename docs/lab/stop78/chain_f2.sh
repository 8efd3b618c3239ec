cat qf2 | xargs -P 2 -L 1 bash run2.sh >> f2.log 2>&1
for n in $(awk '{print $1$2}' listf2); do echo "$n pk8 --set train.gp_prior.w_pattern=0.8"; done | xargs -P 2 -L 1 bash pkrunm.sh >> pk2.log 2>&1
