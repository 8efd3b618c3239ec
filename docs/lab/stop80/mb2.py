"""Profile one kernel between all training sites, without a gradient (lab)."""

import cProfile
import pstats

import torch

torch.set_num_threads(1)
g = torch.load("cap.pt", weights_only=False)
a, b, ls, kern = g["k2550"]
with torch.no_grad():
    cProfile.run(
        "import soilbinn.nn.gp_prior as gp; gp.site_kernel(a, a, ls[0], *kern)", "mb2.prof"
    )
pstats.Stats("mb2.prof").sort_stats("tottime").print_stats(12)
