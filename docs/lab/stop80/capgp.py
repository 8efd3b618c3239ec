"""Capture group_precisions' inputs from a GP-stage rerun (lab).

usage: python capgp.py RUN DATA NEW_RUN (writes capgp.pt, then stops)"""

import sys

import torch

import soilbinn.training.gp_support as gs

sys.path.insert(0, "/work/main/benchmarks")
import gp_stage_rerun  # noqa: E402


def cap(*args, **kw):
    torch.save((args, kw), "capgp.pt")
    sys.exit(0)


gs.group_precisions = cap
gp_stage_rerun.main(sys.argv[1:])
