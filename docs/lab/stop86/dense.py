import sys

import torch

from soilbinn.nn.gp_prior import GPPrior, sqrtm_psd

sys.path.insert(0, "/work/main/tests")
F64 = torch.float64
from test_gp_prior import _net  # noqa: E402


def dense(prior, xn):
    x = prior.x_train
    n, k = prior.hessian.shape[:2]
    c_tt = prior._prior_cov(x, x)
    c_nt = prior._prior_cov(xn, x)
    c_nn = prior._prior_cov(xn, xn)
    if prior.kernel != "per_parameter":
        B = prior.b_cov()
        C = torch.einsum("ij,ab->iajb", c_tt[0], B).reshape(n * k, n * k)
        Cs = torch.einsum("ij,ab->iajb", c_nt[0], B)  # (m,k,n,k)
        Cnn = torch.einsum("ii,ab->iab", c_nn[0], B)
    else:
        C = torch.zeros(n, k, n, k, dtype=F64)
        for j in range(k):
            C[:, j, :, j] = c_tt[j]
        C = C.reshape(n * k, n * k)
        Cs = torch.zeros(len(xn), k, n, k, dtype=F64)
        for j in range(k):
            Cs[:, j, :, j] = c_nt[j]
        Cnn = torch.stack([torch.diagonal(c_nn[j]) for j in range(k)], 1)[:, :, None] * torch.eye(k)
    S = torch.zeros(n, k, n, k, dtype=F64)
    s = sqrtm_psd(prior.hessian)
    for i in range(n):
        S[i, :, i, :] = s[i]
    S = S.reshape(n * k, n * k)
    A = torch.eye(n * k, dtype=F64) + S @ C @ S
    Cs2 = Cs.reshape(len(xn), k, n * k)
    out = []
    for j in range(k):
        v = Cs2[:, j, :] @ S
        var = torch.diagonal(Cnn, dim1=1, dim2=2)[:, j] - (v * torch.linalg.solve(A, v.T).T).sum(1)
        out.append(var.sqrt())
    return torch.stack(out, 1)


gen = torch.Generator().manual_seed(3)
for kernel, corr in [
    ("per_parameter", "squared_exponential+additive"),
    ("shared", "squared_exponential"),
    ("per_parameter", "squared_exponential"),
]:
    n, k, d = 50, 3, 2
    net = _net(d)
    pr = GPPrior(
        net,
        n,
        d + 3 + 0,
        k,
        use_lonlat=False,
        kernel=kernel,
        correlation=corr,
        categories="additive",
        offset_variance=[0.1, 0.0, 0.3] if kernel == "per_parameter" else 0.0,
    )
    nf = pr.x_train.shape[1]
    with torch.no_grad():
        pr.x_train.copy_(torch.randn(n, nf, generator=gen, dtype=F64))
        pr.log_lengthscale.normal_(0, 0.3, generator=gen)
        L = torch.tril(torch.randn(k, k, generator=gen, dtype=F64)) + 2 * torch.eye(k)
        if kernel == "per_parameter":
            L = torch.diag(torch.diagonal(L))
        pr.chol_b.copy_(L)
        a = torch.randn(n, k, 2, generator=gen, dtype=F64)
        pr.hessian.copy_(3 * a @ a.transpose(1, 2))
    xn = torch.randn(7, nf, generator=gen, dtype=F64)
    # bypass features(): call internals directly
    f = pr._predictive_factors()
    c_nt = pr._prior_cov(xn, pr.x_train)
    c_nn = pr._prior_cov(xn, xn)
    mine = []
    for j, (p, m, sc) in enumerate(f):
        q = c_nt[j if len(c_nt) > 1 else 0] @ p
        mine.append(
            (sc * torch.diagonal(c_nn[j if len(c_nn) > 1 else 0]) - ((q @ m) * q).sum(1)).sqrt()
        )
    mine = torch.stack(mine, 1)
    ref = dense(pr, xn)
    print(kernel, corr, float((mine - ref).abs().max()), float(ref.min()), float(ref.max()))
