#!/bin/bash
# rev.sh NAME: round evidences of demo (fresh/run_n_NAME) and the pk8 rerun, and the kept
f() { grep -o "round [0-9], misfit [0-9.]*, log evidence -[0-9.]*" $1/train.log | awk '{printf "r%s%s ", $2, $NF}'; grep -o "log evidence -[0-9.]* (round [0-9]" $1/train.log | tail -1 | awk '{print "kept r"$NF}'; }
echo "$1 demo: $(f fresh/run_n_$1)"
[ -d runs/$1_pk8 ] && echo "$1 pk8 : $(f runs/$1_pk8)"
