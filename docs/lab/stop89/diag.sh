#!/bin/bash
# usage: diag.sh TAG LOG: for each miss in LOG, held-out bias per parameter and w_scaling's false limitation (recovery_errors.py, no ceiling)
cd /work/lab/s89/fresh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for n in $(awk '$8==(ENVIRON["WHICH"]?ENVIRON["WHICH"]:"miss") || ENVIRON["WHICH"]=="all"{print $1}' ../$2); do
  python /work/main/benchmarks/recovery_errors.py $n.nc run_$1_$n p_$1_$n.nc --sites 0 2>/dev/null | awk -v n=$n '
  / test R2 /{for(i=1;i<=NF;i++) if($i=="test"&&$(i+1)=="R2") {r[$2]=$(i+2); b[$2]=$(i+6)}}
  /saturated at/{sat=$6; fl=$17}
  END {printf "| %s | %s / %s / %s | %s / %s / %s | %s | %s |\n", n, r["efolding"], r["tau4s3"], r["fs1s3"], b["efolding"], b["tau4s3"], b["fs1s3"], sat, fl}'
done
