#!/bin/bash
# usage: tab2.sh: rows for the truths of list2 where both the candidate (from scratch, c) and
# demo's GP stage from its network (old) are done: python tab.py on their score lines
cd /work/lab/s81
bash sc.sh c list2 > c2.log 2>/dev/null
grep " old " pk2_old.log | sed 's/ old / /' > old2.log
awk 'NR==FNR {a[$1]=1; next} ($1$2 in a)' old2.log list2 > list2_done
LIST=list2_done python tab.py old2.log c2.log
