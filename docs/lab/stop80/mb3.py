"""Profile the four kernels on 400 sites with their backward (lab)."""

import cProfile
import pstats

import torch

import soilbinn.nn.gp_prior as gp

torch.set_num_threads(1)
a4, _, ls4, kern4 = torch.load("cap.pt", weights_only=False)["k400"]


def forward_backward():
    t = ls4.clone().requires_grad_(True)
    (gp.rbf_stack(a4, a4, t, *kern4) * 0.3).sum().backward()


for _ in range(3):
    forward_backward()
cProfile.run("for _ in range(20): forward_backward()", "mb3.prof")
pstats.Stats("mb3.prof").sort_stats("tottime").print_stats(14)
