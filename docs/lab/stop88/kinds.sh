#!/bin/bash
# usage: kinds.sh A.log B.log: target met by kind (issue kinds, other smooth, jumps) on the truths in both
join <(sort $1 | awk '{print $1, $8}') <(sort $2 | awk '{print $1, $8}') | awk '
{f=$1; sub(/[0-9]+$/, "", f)
 k = (f ~ /^(mix|bands|gp|hinge|lc)$/) ? "issue" : (f ~ /^(regions|blocks|steps|tiles)$/) ? "jumps" : "smooth"
 n[k]++; a[k]+=($2=="PASS"); b[k]+=($3=="PASS")}
END {for (k in n) printf "%s: %d truths, A %d, B %d\n", k, n[k], a[k], b[k]}'
