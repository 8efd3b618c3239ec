"""LAB (stop 84): partitions grown on the SOC likelihood's quadratic model at a previous fit.

Each site i has the log likelihood's gradient g_i (k,) and Gauss-Newton Hessian H_i (k, k)
in logits at a previous posterior mode. An offset d shared by the sites of a leaf S, with
prior N(0, v I), raises the Laplace log evidence by
    gain(S) = 1/2 b' (A + I/v)^-1 b - 1/2 logdet(I + v A),   b = sum g_i, A = sum H_i,
and a tree is grown best-first on that gain (a Bayesian CART on the likelihood's quadratic
model): the leaves become the GP prior's cells.
"""

import numpy as np
import torch


def _gain(b, a, v):
    # b (m, k), a (m, k, k) -> (m,)
    k = b.shape[1]
    eye = torch.eye(k, dtype=b.dtype)
    m = a + eye / v
    sol = torch.linalg.solve(m, b.unsqueeze(-1)).squeeze(-1)
    return 0.5 * (b * sol).sum(1) - 0.5 * torch.logdet(eye + v * a)


def grow(x, g, h, v=1.0, leaves=16, min_leaf=40):
    """Leaf index (n,) of a tree on features x (n, p) grown best-first on the gain."""
    x = torch.as_tensor(x, dtype=torch.float64)
    n, p = x.shape
    leaf = torch.zeros(n, dtype=torch.long)
    cand = {}

    def best_split(idx):
        bb, aa = g[idx], h[idx]
        base = _gain(bb.sum(0, keepdim=True), aa.sum(0, keepdim=True), v)[0]
        best = (0.0, None, None)
        for f in range(p):
            xs, order = torch.sort(x[idx, f])
            cb, ca = torch.cumsum(bb[order], 0), torch.cumsum(aa[order], 0)
            tb, ta = cb[-1], ca[-1]
            if len(idx) < 2 * min_leaf:
                break
            cut = torch.arange(min_leaf, len(idx) - min_leaf + 1)
            ok = xs[cut - 1] < xs[cut]
            cut = cut[ok]
            if len(cut) == 0:
                continue
            gl = _gain(cb[cut - 1], ca[cut - 1], v)
            gr = _gain(tb - cb[cut - 1], ta - ca[cut - 1], v)
            tot = gl + gr - base
            i = int(torch.argmax(tot))
            if float(tot[i]) > best[0]:
                c = int(cut[i])
                best = (float(tot[i]), f, float(0.5 * (xs[c - 1] + xs[c])))
        return best

    cand[0] = best_split(torch.arange(n))
    n_leaves, rules = 1, {0: []}
    while n_leaves < leaves:
        lid = max(cand, key=lambda c: cand[c][0])
        gain, f, thr = cand[lid]
        if f is None or gain <= 0:
            break
        idx = torch.nonzero(leaf == lid).squeeze(1)
        right = idx[x[idx, f] > thr]
        new = n_leaves
        leaf[right] = new
        rules[new] = rules[lid] + [(f, thr, 1)]
        rules[lid] = rules[lid] + [(f, thr, 0)]
        n_leaves += 1
        cand[lid] = best_split(torch.nonzero(leaf == lid).squeeze(1))
        cand[new] = best_split(torch.nonzero(leaf == new).squeeze(1))
    return leaf, rules


def apply(rules, x):
    """Leaf index (n,) of sites x (n, p) by the rules of :func:`grow`."""
    x = np.asarray(x, dtype=float)
    out = np.full(len(x), -1)
    for lid, rs in rules.items():
        m = np.ones(len(x), bool)
        for f, thr, side in rs:
            m &= (x[:, f] > thr) if side else ~(x[:, f] > thr)
        out[m] = lid
    return out
