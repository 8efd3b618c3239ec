#!/bin/bash
# usage: summ.sh A.log B.log: evidence higher in B on how many, mean user CPU s of each
join <(sort $1 | awk '{print $1, $11, $12}') <(sort $2 | awk '{print $1, $11, $12}') | awk '{h+=($4>$2); a+=$3; b+=$5; n++} END {printf "%d truths: evidence higher with B on %d; mean user CPU s A %.1f, B %.1f\n", n, h, a/n, b/n}'
