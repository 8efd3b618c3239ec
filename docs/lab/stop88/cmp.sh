#!/bin/bash
# usage: cmp.sh A.log B.log: per truth in B, pass/miss of A and B, evidence B-A, user s of A and B
join <(sort $1 | awk '{print $1, $8, $11, $12}') <(sort $2 | awk '{print $1, $8, $11, $12}') | awk '{d=$6-$3; printf "%-12s A %s B %s  dEv %+7.1f  cpu A %s B %s\n", $1, $2, $5, d, $4, $7; a+=($2=="PASS"); b+=($5=="PASS"); n++} END {print n, "truths: A", a, "B", b}'
