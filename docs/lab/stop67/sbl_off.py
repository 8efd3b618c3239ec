import sys

import numpy as np
import torch

torch.set_num_threads(1)
f64 = torch.float64
#: the groups of the basis, in order (the 13 covariates, lon, lat, the 3 categories)
GROUP_NAMES = (
    "elev mat trng map pet moist clay sand silt npp bedr nbedr ph lon lat LC CZ TEX".split()
)


def basis(x, onehot, n_numeric, n_categories, M=7, width=0.6, onehot_single=False):
    d = x.shape[1]
    groups, cols = [], []
    for dc in range(d):
        if onehot[dc]:
            continue
        xd = x[:, dc]
        qs = torch.quantile(xd, torch.linspace(0.05, 0.95, M, dtype=f64))
        w = width * float(xd.std())
        phi = torch.cat([xd[:, None], torch.exp(-0.5 * ((xd[:, None] - qs[None]) / w) ** 2)], 1)
        phi = (phi - phi.mean(0)) / phi.std(0).clamp_min(1e-9)
        groups.append(phi)
        cols.append([dc])
    pos = n_numeric
    for kc in n_categories:
        blk = list(range(pos, pos + int(kc)))
        pos += int(kc)
        if onehot_single:
            for c in blk:
                phi = (x[:, [c]] > 0).to(f64)
                phi = phi - phi.mean(0)
                if phi.abs().sum() > 0:
                    groups.append(phi)
                    cols.append([c])
        else:
            phi = (x[:, blk] > 0).to(f64)
            phi = phi - phi.mean(0)
            keep = phi.abs().sum(0) > 0
            groups.append(phi[:, keep])
            cols.append(blk)
    return groups, cols


def sbl(x, z, g, h, groups, iters=200, a0=1.0):
    k = z.shape[1]
    sizes = [gq.shape[1] for gq in groups]
    phi = torch.cat(groups, 1)
    phi1 = torch.cat([torch.ones(len(phi), 1, dtype=f64), phi], 1)
    p1 = phi1.shape[1]
    P = k * p1
    A0 = torch.einsum("iab,ip,iq->apbq", h, phi1, phi1).reshape(P, P)
    rhs = torch.einsum("iab,ib->ia", h, z) - g
    bvec = torch.einsum("ia,ip->ap", rhs, phi1).reshape(P)
    gid = []
    for j in range(k):
        gid.append(-1)
        for gi, sz in enumerate(sizes):
            gid += [j * len(sizes) + gi] * sz
    gid = torch.tensor(gid)
    ng = k * len(sizes)
    onehot_g = torch.nn.functional.one_hot(gid.clamp_min(0), ng).to(f64) * (gid >= 0)[:, None]
    alpha = torch.full((ng,), a0, dtype=f64)
    for _ in range(iters):
        prec = onehot_g @ alpha + (gid < 0).to(f64) * 1e-6
        L = torch.linalg.cholesky(A0 + torch.diag(prec))
        m = torch.cholesky_solve(bvec[:, None], L)[:, 0]
        Sd = torch.diagonal(torch.cholesky_inverse(L))
        gamma = onehot_g.sum(0) - alpha * (onehot_g.T @ Sd)
        alpha = (gamma.clamp_min(1e-12) / (onehot_g.T @ m**2).clamp_min(1e-30)).clamp(1e-8, 1e12)
    # contributions: variance over sites of each group's fitted function, per parameter
    contrib = torch.zeros(k, len(sizes), dtype=f64)
    off = 0
    for j in range(k):
        off = j * p1 + 1
        for gi, sz in enumerate(sizes):
            contrib[j, gi] = (groups[gi] @ m[off : off + sz]).var()
            off += sz
    # evidence
    prec = onehot_g @ alpha + (gid < 0).to(f64) * 1e-6
    L = torch.linalg.cholesky(A0 + torch.diag(prec))
    m = torch.cholesky_solve(bvec[:, None], L)[:, 0]
    ev = -2 * torch.log(torch.diagonal(L)).sum() / 2 + 0.5 * torch.log(prec).sum() + 0.5 * bvec @ m
    return alpha.reshape(k, -1), contrib, float(ev)


if __name__ == "__main__":
    n = sys.argv[1]
    D = np.load(f"dumps/{n}.npz")
    x, z, g, h = (torch.as_tensor(D[k]) for k in ("x", "z", "g", "h"))
    groups, cols = basis(x, D["onehot"], int(D["n_numeric"]), D["n_categories"])
    alpha, contrib, ev = sbl(
        x, z, g, h, groups, iters=int(sys.argv[2]) if len(sys.argv) > 2 else 200
    )
    names = GROUP_NAMES
    T = (
        np.load(f"runs/h_{n}.npz")["log_lengthscale"]
        if __import__("os").path.exists(f"runs/h_{n}.npz")
        else None
    )
    for j in range(4):
        share = (contrib[j] / contrib[j].sum()).numpy()
        tr = ""
        if T is not None:
            rel = np.exp(T[j]) < 100
            tr = " truth:" + ",".join(names[gi] for gi, cs in enumerate(cols) if rel[cs].any())
        print(
            j,
            " ".join(
                f"{names[gi]}:{alpha[j, gi]:.1e}/{share[gi] * 100:.0f}%"
                for gi in np.argsort(-share)[:10]
            ),
            tr,
        )
