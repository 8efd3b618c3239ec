import time

import torch

from soilbinn.nn.gp_prior import SeparateLowRankLaplace, pivoted_kernel_basis, rbf, select_steps

torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
n, k, m, r = 2550, 4, 344, 500
x = torch.randn(n, 5, generator=g, dtype=torch.float64)
t = time.perf_counter()
K = rbf(x, x, torch.zeros(5, dtype=torch.float64) - 0.5)
print("kernel", time.perf_counter() - t)
t = time.perf_counter()
bases = [pivoted_kernel_basis(K, r) for _ in range(k)]
print("pivoted x4", time.perf_counter() - t, [len(b[0]) for b in bases])
a = torch.randn(n, k, 3, generator=g, dtype=torch.float64)
h = a @ a.transpose(1, 2)
t = time.perf_counter()
sys_ = SeparateLowRankLaplace(bases, h)
print("gram", time.perf_counter() - t)
t = time.perf_counter()
ev, al = sys_.step(torch.randn(n, k, dtype=torch.float64), torch.randn(n, k, dtype=torch.float64))
print("chol+step", time.perf_counter() - t)
cols = (torch.rand(n, m, generator=g, dtype=torch.float64) > 0.5).double()
cols -= cols.mean(0)
t = time.perf_counter()
sel = select_steps(sys_, al, cols, 7.0, 8)
print("select", time.perf_counter() - t, len(sel))
