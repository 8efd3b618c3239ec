#!/bin/bash
WFLOOR=1 bash /work/lab/s68/gprun2.sh src_wfloor $1 wfl1 fresh/$1.nc
