#!/bin/bash
# usage: claim.sh FAM SEED: run1.sh unless another worker has claimed it
mkdir /work/lab/s69/claims/$1$2 2>/dev/null || exit 0
bash /work/lab/s69/run1.sh $1 $2
