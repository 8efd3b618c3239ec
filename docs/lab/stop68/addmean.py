"""addmean.py NAME [ROUND]: the SBL additive model's posterior mean (fitted to the SOC's
quadratic model at the dumped round) against the round's start logits, both vs the truth."""

import sys

import numpy as np
import torch

from soilbinn.training.gp_support import additive_basis

sys.path.insert(0, "/work/main/docs/lab/stop67")
from sbl_truth import truth_terms  # noqa: E402

n = sys.argv[1]
r = sys.argv[2] if len(sys.argv) > 2 else "0"
d = torch.load(f"dumps/{n}_{r}.pt")
x, z, g, h, blocks = d["x"], d["z"], d["g"], d["h"], d["blocks"]
L = ["efolding", "tau4s3", "fs1s3", "w_scaling"]
zt, _, _ = truth_terms(n, len(z))  # the true logits at the training sites, in their order
tp = torch.sigmoid(zt).numpy()

groups, cols = additive_basis(x, blocks)
nn_, k = z.shape
sizes = [int(gr.shape[1]) for gr in groups]
phi = torch.cat([torch.ones(nn_, 1, dtype=z.dtype), *groups], 1)
p = phi.shape[1]
a0 = torch.einsum("iab,ip,iq->apbq", h, phi, phi).reshape(k * p, k * p)
b = torch.einsum("ia,ip->ap", torch.einsum("iab,ib->ia", h, z) - g, phi).reshape(k * p)
group_of = torch.tensor([-1] + [gi for gi, s in enumerate(sizes) for _ in range(s)])
gid = torch.cat([torch.where(group_of < 0, -1, group_of + j * len(sizes)) for j in range(k)])
member = torch.nn.functional.one_hot(gid.clamp_min(0), k * len(sizes)).to(z.dtype)
member = member * (gid >= 0).to(z.dtype)[:, None]
size = member.sum(0)
alpha = torch.ones(k * len(sizes), dtype=z.dtype)
flat = (gid < 0).to(z.dtype) * 1e-6
for _ in range(200):
    chol = torch.linalg.cholesky(a0 + torch.diag(member @ alpha + flat))
    w = torch.cholesky_solve(b[:, None], chol)[:, 0]
    var = torch.diagonal(torch.cholesky_inverse(chol))
    gamma = (size - alpha * (member.T @ var)).clamp_min(1e-12)
    alpha = (gamma / (member.T @ w**2).clamp_min(1e-30)).clamp(1e-8, 1e12)
m = (phi @ w.reshape(k, p).T).numpy()
sg = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
for j, name in enumerate(L[:3]):
    tt = tp[:, j]
    for lab, est in (("start", sg(z[:, j].numpy())), ("additive", sg(m[:, j]))):
        e = est - tt
        q = np.quantile(tt, [0, 0.25, 0.5, 0.75, 1])
        byq = " ".join(f"{e[(tt >= a) & (tt <= bb)].mean():+.3f}" for a, bb in zip(q[:-1], q[1:]))
        r2 = 1 - (e**2).sum() / ((tt - tt.mean()) ** 2).sum()
        print(f"{n} {name:8s} {lab:8s} R2 {r2:.3f} bias {e.mean():+.3f} by truth quartile {byq}")
