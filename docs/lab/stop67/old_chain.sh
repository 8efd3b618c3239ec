#!/bin/bash
# old_chain.sh FAM SEED: demo run (run1.sh), then the SBL-every rerun
cd /work/lab/s67
./run1.sh $1 $2 && SBL_EVERY=1 SBL_PRUNE=1e4 SBL_KEEP_ALL=3 ./rerun.sh src_sbl3 sbl_every $1$2
