"""A Gaussian-process prior on BINN's learned parameters, hyperparameters from the evidence.

The parameter network's prior (its architecture, weight decay, early stopping) decides the
parameters where a site's SOC says little about them, and no fixed network prior is right on
every truth (``docs/recovery_ablation.md``). Here the logits ``z = logit(p)`` of the learned
parameters are given a Gaussian-process prior over the site inputs,

    z ~ GP(mean, kron(Kx, B)),   Kx(x, x') = exp(-|(x - x') / l|^2 / 2),

with one length scale ``l`` per input feature (automatic relevance determination), a
``k x k`` covariance ``B`` between the learned parameters (diagonal unless
``train.gp_prior.correlated``) and a constant mean per parameter. Those hyperparameters are not chosen by hand: they maximise the Laplace
approximation of the marginal likelihood of the observed SOC (the evidence), so how
smoothly each parameter varies with each covariate is learned from the data.
:func:`laplace_step` is the linear algebra of one Newton step and of the evidence, for a
site-separable likelihood with per-site gradient ``g_i`` and (Gauss-Newton) Hessian
``H_i`` in logit space (Rasmussen & Williams 2006, ch. 3, for the algorithm);
:class:`LowRankLaplace` is the same step in the kernel's leading eigenbasis, for all
training sites (a system of rank x k rather than sites x k);
:class:`GPPrior` holds the fitted posterior mean and predicts at new sites. The fitting
loop with the process model is :func:`soilbinn.training.gp_fit.fit_gp_prior`.

With ``train.gp_prior.kernel = per_parameter`` (``demo``) each parameter has its own
kernel instead, ``z_j ~ GP(mean_j, s_j^2 K_j)`` independently, each ``K_j`` with its own
length scales: :func:`laplace_evidence_gradients_separate` and
:class:`SeparateLowRankLaplace` (one eigenbasis per parameter, from
:func:`pivoted_kernel_basis`) are the same algebra with a block-diagonal prior. The
correlation function is the squared exponential above, the Matern 5/2 or an additive
kernel of one and two features at a time (:func:`additive`, or
:func:`additive_exponential` with the one-dimensional exponential correlation;
:data:`CORRELATIONS`, ``train.gp_prior.correlation``), or a weighted sum of two of them,
the weight fitted per parameter with the length scales (:data:`SUMS`).

Features: the network's scaled numeric covariates, one-hot categories and (lon, lat) in
units of 10 degrees, standardised over the training sites.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def sqrtm_psd(h: torch.Tensor) -> torch.Tensor:
    """Symmetric square roots (n, k, k) of positive semi-definite matrices (n, k, k)."""
    lam, vec = torch.linalg.eigh(h)
    return vec @ torch.diag_embed(lam.clamp_min(0).sqrt()) @ vec.transpose(1, 2)


def _scaled_distance2(
    a: torch.Tensor, b: torch.Tensor, log_lengthscale: torch.Tensor
) -> torch.Tensor:
    ls = log_lengthscale.exp()
    a, b = a / ls, b / ls
    return ((a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T).clamp_min(0)


def rbf(a: torch.Tensor, b: torch.Tensor, log_lengthscale: torch.Tensor) -> torch.Tensor:
    """ARD squared-exponential kernel (na, nb) of features a (na, d) and b (nb, d)."""
    return torch.exp(-0.5 * _scaled_distance2(a, b, log_lengthscale))


def matern52(a: torch.Tensor, b: torch.Tensor, log_lengthscale: torch.Tensor) -> torch.Tensor:
    """ARD Matern 5/2 kernel (na, nb): ``(1 + s + s^2 / 3) exp(-s)``, ``s = sqrt(5) r``, ``r``
    the length-scaled distance. Twice differentiable where the squared exponential is
    infinitely so: a parameter may change faster along a covariate for the same length
    scale."""
    # below 1e-30 the clamp passes no gradient: the kernel's slope in r is 0 at r = 0
    s = math.sqrt(5.0) * _scaled_distance2(a, b, log_lengthscale).clamp_min(1e-30).sqrt()
    return (1 + s + s * s / 3) * torch.exp(-s)


#: rows and columns of the blocks the additive kernel's sums are computed in (one
#: (block, block) buffer reused for every feature: it stays in cache where a (d, na, nb)
#: array would not)
_BLOCK = 512


def _blocks(na: int, nb: int, sym: bool):
    """(i0, i1, j0, j1) of the blocks of an (na, nb) matrix; only j0 >= i0 when ``sym``."""
    for i0 in range(0, na, _BLOCK):
        for j0 in range(i0 if sym else 0, nb, _BLOCK):
            yield i0, min(i0 + _BLOCK, na), j0, min(j0 + _BLOCK, nb)


#: at most this many one-dimensional correlations ``z_d`` (float64 entries: 256 MB) are kept
#: from the additive kernel's forward pass for its backward, which otherwise recomputes them
_KEEP_MAX = 2**25


def _scaled_sums(
    at: torch.Tensor,
    bt: torch.Tensor,
    sym: bool,
    rough: bool = False,
    keep: list[torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``s1 = sum_d z_d`` and ``s2 = sum_d z_d^2`` (na, nb) from the length-scaled features
    ``at`` (d, na) and ``bt`` (d, nb), ``z_d = exp(-(at_d,i - bt_d,j)^2 / 2)`` (``rough``:
    ``exp(-|at_d,i - bt_d,j|)``); blockwise and in place, the upper blocks mirrored when
    ``sym`` (``at`` and ``bt`` the same). ``keep``: each block's ``z_d`` (d, rows, columns)
    is appended to it, in the order of :func:`_blocks`."""
    na, nb = at.shape[1], bt.shape[1]
    s1 = torch.zeros(na, nb, dtype=at.dtype, device=at.device)
    s2 = torch.zeros_like(s1)
    for i0, i1, j0, j1 in _blocks(na, nb, sym):
        b1, b2 = s1[i0:i1, j0:j1], s2[i0:i1, j0:j1]
        zs = torch.empty((at.shape[0] if keep is not None else 1, *b1.shape),
                         dtype=at.dtype, device=at.device)  # fmt: skip
        if keep is not None:
            keep.append(zs)
        for j in range(at.shape[0]):
            zj = zs[j] if keep is not None else zs[0]
            torch.sub(at[j, i0:i1, None], bt[j, None, j0:j1], out=zj)
            if rough:
                zj.abs_().neg_().exp_()
            else:
                zj.square_().mul_(-0.5).exp_()
            b1.add_(zj)
            b2.addcmul_(zj, zj)
        if sym and j0 > i0:  # the mirrored block
            s1[j0:j1, i0:i1], s2[j0:j1, i0:i1] = b1.T, b2.T
    return s1, s2


class _AdditiveSums(torch.autograd.Function):
    """The sums ``s1 = sum_d z_d`` and ``s2 = sum_d z_d^2`` (na, nb) of the one-dimensional
    squared exponentials of a few hundred sites, differentiable in the log length scales.

    Both passes run blockwise (:func:`_blocks`); the backward reads each block's ``z_d``
    as the forward pass kept them, or recomputes them where more than :data:`_KEEP_MAX`
    would have been kept. With ``sym`` (the same sites on both
    sides) only the upper blocks are computed: the sums are symmetric, so the gradient
    reads the symmetric part of the incoming one, the off-diagonal blocks twice.
    """

    @staticmethod
    def forward(ctx, a, b, log_lengthscale, sym, rough=False):
        ls = log_lengthscale.exp()
        at, bt = (a / ls).T.contiguous(), (b / ls).T.contiguous()  # (d, na), (d, nb)
        ctx.save_for_backward(at, bt)
        ctx.sym, ctx.rough = sym, rough
        ctx.kept = [] if at.shape[0] * at.shape[1] * bt.shape[1] <= _KEEP_MAX else None
        return _scaled_sums(at, bt, sym, rough, ctx.kept)

    @staticmethod
    def backward(ctx, g1, g2):
        at, bt = ctx.saved_tensors
        sym, rough = ctx.sym, ctx.rough
        if sym:
            g1, g2 = 0.5 * (g1 + g1.T), 0.5 * (g2 + g2.T)
        grad = torch.zeros(at.shape[0], dtype=at.dtype, device=at.device)
        kept = ctx.kept
        for blk, (i0, i1, j0, j1) in enumerate(_blocks(at.shape[1], bt.shape[1], sym)):
            c1, c2 = g1[i0:i1, j0:j1], 2.0 * g2[i0:i1, j0:j1]
            r2 = torch.empty_like(c1)
            zj, w = torch.empty_like(c1), torch.empty_like(c1)
            twice = 2.0 if sym and j0 > i0 else 1.0
            for j in range(at.shape[0]):
                torch.sub(at[j, i0:i1, None], bt[j, None, j0:j1], out=r2)
                if rough:  # z = exp(-r), dz/dlog l = z r (r2 holds r)
                    r2.abs_()
                    if kept is None:
                        torch.neg(r2, out=zj).exp_()
                else:
                    r2.square_()
                    if kept is None:
                        torch.mul(r2, -0.5, out=zj).exp_()
                if kept is not None:
                    zj = kept[blk][j]
                # dz/dlog l = z r2; d s1 = z r2, d s2 = 2 z^2 r2
                torch.addcmul(c1, zj, c2, out=w).mul_(zj)
                grad[j] += twice * torch.dot(w.view(-1), r2.view(-1))
        ctx.kept = None
        return None, None, grad, None, None


def binary_columns(
    a: torch.Tensor, b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each feature's least and greatest value over the sites of ``a`` (na, d) and ``b``
    (nb, d) and whether it takes no others (a category's one-hot column): (lo, hi, binary),
    each (d,). :func:`_additive_sums` reads a binary feature by two matrix products."""
    sym = a is b or (a.shape == b.shape and bool(torch.equal(a, b)))
    both = a if sym else torch.cat([a, b])
    lo, hi = both.min(0).values, both.max(0).values
    return lo, hi, ((both == lo) | (both == hi)).all(0)


def _additive_sums(
    a: torch.Tensor,
    b: torch.Tensor,
    log_lengthscale: torch.Tensor,
    rough: bool = False,
    columns: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``s1 = sum_d z_d`` and ``s2 = sum_d z_d^2`` (na, nb) over the features, ``z_d`` the
    one-dimensional squared exponential of feature ``d``. A feature with two values over
    the sites (a category's one-hot column) has ``z_d = 1`` where they agree and
    ``exp(-gap^2 / 2 l^2)`` where not: two matrix products instead of ``na nb``
    exponentials. The others blockwise (:func:`_scaled_sums`), differentiable in the
    length scales where they require a gradient; a kernel between the same sites (``a``
    and ``b`` equal) computes its upper triangle only. ``rough``: the one-dimensional
    exponential ``exp(-|gap| / l)`` in place of the squared exponential. ``columns``:
    :func:`binary_columns` of the whole kernel's sites when ``a`` and ``b`` are a block of
    it (a feature is read the same way in every block)."""
    sym = a is b or (a.shape == b.shape and bool(torch.equal(a, b)))
    lo, hi, binary = binary_columns(a, b) if columns is None else columns
    rest = ~binary
    if bool(rest.any()):
        ar, br, log_ls = a[:, rest], b[:, rest], log_lengthscale[rest]
        if torch.is_grad_enabled() and log_ls.requires_grad:
            if ar.requires_grad or br.requires_grad:
                raise ValueError("additive: gradients are taken in the length scales only")
            s1, s2 = _AdditiveSums.apply(ar, br, log_ls, sym, rough)
        else:
            ls = log_ls.exp()
            at, bt = (ar / ls).T.contiguous(), (br / ls).T.contiguous()
            s1, s2 = _scaled_sums(at, bt, sym, rough)
    else:
        s1 = torch.zeros(a.shape[0], b.shape[0], dtype=a.dtype, device=a.device)
        s2 = torch.zeros_like(s1)
    if bool(binary.any()):
        ha, hb = (a[:, binary] == hi[binary]).to(a.dtype), (b[:, binary] == hi[binary]).to(a.dtype)
        gap = (hi - lo)[binary] / log_lengthscale[binary].exp()
        e = torch.exp(-gap) if rough else torch.exp(-0.5 * gap**2)
        n_bin = int(binary.sum())

        def disagree(w: torch.Tensor) -> torch.Tensor:  # sum_d w_d [a_d != b_d]
            return (ha * w) @ (1 - hb).T + ((1 - ha) * w) @ hb.T

        s1 = s1 + n_bin - disagree(1 - e)
        s2 = s2 + n_bin - disagree(1 - e * e)
    return s1, s2


def additive(
    a: torch.Tensor, b: torch.Tensor, log_lengthscale: torch.Tensor, columns=None
) -> torch.Tensor:
    """Additive kernel (na, nb) of first and second order (Duvenaud, Nickisch & Rasmussen
    2011): with ``z_d`` the one-dimensional squared exponential of feature ``d`` (its own
    length scale), the mean of the ``z_d`` and the mean of their pairwise products
    ``z_d z_e`` (d < e), averaged. Its functions are sums of functions of one and of two
    features, where the ARD product kernel's are functions of all features at once; a
    feature with a long length scale contributes a constant. ``columns``: as
    :func:`_additive_sums`."""
    return _additive_of_sums(a.shape[1], *_additive_sums(a, b, log_lengthscale, False, columns))


def additive_exponential(
    a: torch.Tensor, b: torch.Tensor, log_lengthscale: torch.Tensor, columns=None
) -> torch.Tensor:
    """:func:`additive` with the one-dimensional exponential (Matern 1/2) correlation
    ``exp(-|a_d - b_d| / l_d)`` in place of the squared exponential: its one-feature
    functions are continuous but not differentiable, so a parameter may step along a
    covariate (a threshold) at a cost that grows with the step's height over its width,
    where the squared exponential's grows exponentially as the width falls below the
    length scale. ``columns``: as :func:`_additive_sums`."""
    return _additive_of_sums(a.shape[1], *_additive_sums(a, b, log_lengthscale, True, columns))


def _additive_of_sums(d: int, s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    # the mean of the first-order terms and of the pairwise products, averaged
    if d == 1:
        return s1
    return 0.5 * (s1 / d + (s1 * s1 - s2) / (d * (d - 1)))


#: the kernels' correlation functions by their name in ``train.gp_prior``
CORRELATIONS = {
    "squared_exponential": rbf,
    "matern52": matern52,
    "additive": additive,
    "additive_exponential": additive_exponential,
}

#: rows and columns of the blocks a kernel without gradients is computed in
#: (:func:`site_kernel`)
_KERNEL_BLOCK = 256

#: the correlation functions that read :func:`binary_columns`
_READS_COLUMNS = {"additive", "additive_exponential"}

#: sums of two correlation functions by their name in ``train.gp_prior``: ``(1 - w)`` times
#: the first plus ``w`` times the second, each with its own length scales (the first ``d``
#: log length scales, then the next ``d``), ``w = sigmoid(t)`` from a last entry ``t``; the
#: second takes the categories' one-hot columns into its own sum (as :func:`additive`
#: alone). The evidence shares each parameter's variance between them (``w``): a parameter
#: that is a sum of functions of one or two covariates takes the second, one that varies
#: with many covariates at once the first.
SUMS = {"squared_exponential+additive": ("squared_exponential", "additive")}


def lengthscale_width(correlation: str, n_features: int) -> int:
    """Log length scales per kernel for ``n_features`` features: for a sum (:data:`SUMS`)
    twice as many and the weight's logit."""
    return 2 * n_features + 1 if correlation in SUMS else n_features


#: a lon/lat cell whose log scale is at least this adds no offset at all (the GP stage
#: holds dropped cells at log 1e4 = 9.21; exactly none keeps the kernel the one without)
CELL_HELD = 9.0


def cell_keys(lonlat: torch.Tensor, sizes: Sequence[float]) -> torch.Tensor:
    """The lon/lat cells that hold sites, for each cell size: (m, 3) float64 rows ``(s, i,
    j)``, the cell ``[i s, (i + 1) s) x [j s, (j + 1) s)`` (degrees of longitude, latitude),
    grouped by size in the order of ``sizes`` and sorted within it; sites with a missing
    coordinate are in none."""
    ll = lonlat.to(torch.float64)
    rows = []
    for s in sizes:
        ij = torch.floor(ll / float(s))
        ij = torch.unique(ij[torch.isfinite(ij).all(1)], dim=0)
        rows.append(torch.cat([torch.full((len(ij), 1), float(s), dtype=torch.float64,
                                          device=ll.device), ij], dim=1))  # fmt: skip
    return torch.cat(rows) if rows else torch.zeros(0, 3, dtype=torch.float64)


def region_keys(regions: torch.Tensor) -> torch.Tensor:
    """The regions that hold sites, for each regional category: (m, 3) float64 rows ``(-(r
    + 1), code, 0)`` for column ``r`` of ``regions`` (n, r) int64 codes (-1 missing),
    grouped by column and sorted by code; the cells of :func:`cell_keys` for a category."""
    rows = []
    for r in range(regions.shape[1]):
        codes = torch.unique(regions[:, r][regions[:, r] >= 0]).to(torch.float64)
        rows.append(torch.stack([torch.full_like(codes, -(r + 1.0)), codes,
                                 torch.zeros_like(codes)], 1))  # fmt: skip
    return torch.cat(rows) if rows else torch.zeros(0, 3, dtype=torch.float64)


def cell_onehots(
    lonlat: torch.Tensor, keys: torch.Tensor, regions: torch.Tensor | None = None
) -> torch.Tensor:
    """(n, m) float64: 1 where a site lies in cell ``keys[c]``: a lon/lat cell of
    :func:`cell_keys`, or a region of :func:`region_keys` (its code in ``regions`` (n, r))."""
    keys = keys.to(lonlat.device)
    out = torch.zeros(len(lonlat), len(keys), dtype=torch.float64, device=lonlat.device)
    grid = keys[:, 0] > 0
    if bool(grid.any()):
        ll = lonlat.to(torch.float64)[:, None, :]
        ij = torch.floor(ll / keys[None, grid, :1])
        out[:, grid] = (ij == keys[None, grid, 1:]).all(2).to(torch.float64)
    if not bool(grid.all()):
        col = (-keys[~grid, 0] - 1).long()
        out[:, ~grid] = (regions[:, col].to(torch.float64) == keys[None, ~grid, 1]).to(
            torch.float64
        )
    return out


def cell_blocks(keys: torch.Tensor, first: int) -> list[list[int]]:
    """The feature columns of each cell size (one categorical covariate per size), the cells'
    columns starting at ``first``."""
    sizes = keys[:, 0].tolist()
    out: list[list[int]] = []
    for c, s in enumerate(sizes):
        if c == 0 or s != sizes[c - 1]:
            out.append([])
        out[-1].append(first + c)
    return out


def site_kernel(
    a: torch.Tensor,
    b: torch.Tensor,
    log_lengthscale: torch.Tensor,
    correlation: str = "squared_exponential",
    onehot: torch.Tensor | None = None,
    cells: torch.Tensor | None = None,
) -> torch.Tensor:
    """Kernel (na, nb) between sites, the categories inside the distance or added to it.

    Without ``onehot`` every feature enters the ARD distance of the correlation function
    (:data:`CORRELATIONS`). With ``onehot`` (d,) marking the one-hot columns of the
    categories, those columns leave the distance and each adds a random offset shared by
    the sites of its category: ``k(a, b) = c(a, b) + sum_c exp(-2 l_c) [a in c] [b in c]``,
    ``c`` the correlation over the other features and ``l_c`` that column's log length
    scale (the offset's variance relative to the kernel's; ``train.gp_prior.categories:
    additive``). A site is in category ``c`` where its standardised one-hot value is
    positive.

    Parameters
    ----------
    a, b : Tensor (na, d), (nb, d)
        Standardised features.
    log_lengthscale : Tensor (d,) or (2 d + 1,)
        Log length scales (of the offsets' variances for the one-hot columns); (2 d + 1,)
        for a sum (:data:`SUMS`): its first term's, its second's, the second's weight's
        logit.
    correlation : str
        Name in :data:`CORRELATIONS` or :data:`SUMS`.
    onehot : Tensor (d,) of bool, optional
        The one-hot columns, for additive categories.
    cells : Tensor (d,) of bool, optional
        The one-hot columns of lon/lat cells (``train.gp_prior.cells``): whatever the
        correlation function, each adds only an offset shared by its cell's sites,
        ``exp(-2 l_c) [a in c] [b in c]`` with the first term's ``l_c`` for a sum, and
        leaves the features the correlation reads (the additive kernel's mean over its
        features would otherwise count every cell as one).

    Notes
    -----
    Without a gradient to take (no length scale requiring one), a kernel of more than
    :data:`_KERNEL_BLOCK` squared entries is computed in square blocks of that many rows
    and columns: every elementwise pass then runs on a block that stays in cache, where the
    whole (na, nb) matrix would not. Its features are read as the whole kernel's
    (:func:`binary_columns`); between the same sites (``a`` and ``b`` equal) the blocks
    below the diagonal are the transposes of those above. Each entry is the one-block
    computation's to round-off (the matrix products' sums may run in another order).
    """
    columns = binary_columns(a, b)
    sym = a is b or (a.shape == b.shape and bool(torch.equal(a, b)))
    na, nb = a.shape[0], b.shape[0]
    grad = torch.is_grad_enabled() and (
        log_lengthscale.requires_grad or a.requires_grad or b.requires_grad
    )
    if grad or na * nb <= _KERNEL_BLOCK**2:
        return _site_kernel(a, b, log_lengthscale, correlation, onehot, cells, columns)
    out = torch.empty(na, nb, dtype=a.dtype, device=a.device)
    for i0 in range(0, na, _KERNEL_BLOCK):
        for j0 in range(i0 if sym else 0, nb, _KERNEL_BLOCK):
            i1, j1 = i0 + _KERNEL_BLOCK, j0 + _KERNEL_BLOCK
            out[i0:i1, j0:j1] = _site_kernel(
                a[i0:i1], b[j0:j1], log_lengthscale, correlation, onehot, cells, columns
            )
            if sym and j0 > i0:
                out[j0:j1, i0:i1] = out[i0:i1, j0:j1].T
    return out


def _site_kernel(a, b, log_lengthscale, correlation, onehot, cells, columns):
    """:func:`site_kernel` of ``a`` and ``b`` as one block, ``columns`` the whole kernel's
    :func:`binary_columns`."""
    if cells is not None and bool(cells.any()):
        cells = cells.to(a.device)
        d, rest = a.shape[1], ~cells
        ls_rest = (torch.cat([log_lengthscale[:d][rest], log_lengthscale[d : 2 * d][rest],
                              log_lengthscale[2 * d :]])
                   if correlation in SUMS else log_lengthscale[rest])  # fmt: skip
        k = _site_kernel(a[:, rest], b[:, rest], ls_rest, correlation,
                         None if onehot is None else onehot.to(a.device)[rest], None,
                         tuple(c[rest] for c in columns))  # fmt: skip
        ls_c = log_lengthscale[:d][cells]
        on = ls_c < CELL_HELD  # held: exactly no offset
        if not bool(on.any()):
            return k
        in_a, in_b = (a[:, cells] > 0).to(a.dtype), (b[:, cells] > 0).to(b.dtype)
        var = torch.exp(-2 * ls_c) * on.to(ls_c.dtype)
        return k + (in_a * var) @ in_b.T
    if correlation in SUMS:
        first, second = SUMS[correlation]
        d = a.shape[1]
        w = torch.sigmoid(log_lengthscale[2 * d])
        return ((1 - w) * _site_kernel(a, b, log_lengthscale[:d], first, onehot, None, columns)
                + w * _site_kernel(a, b, log_lengthscale[d : 2 * d], second, None, None,
                                   columns))  # fmt: skip
    corr = CORRELATIONS[correlation]

    def of(rest):  # the correlation over the features ``rest`` (all: None)
        if rest is None:
            a_, b_, ls_, cols = a, b, log_lengthscale, columns
        else:
            a_, b_, ls_ = a[:, rest], b[:, rest], log_lengthscale[rest]
            cols = tuple(c[rest] for c in columns)
        return corr(a_, b_, ls_, cols) if correlation in _READS_COLUMNS else corr(a_, b_, ls_)

    if onehot is None or not bool(onehot.any()):
        return of(None)
    onehot = onehot.to(a.device)
    rest = ~onehot
    k = of(rest)
    in_a, in_b = (a[:, onehot] > 0).to(a.dtype), (b[:, onehot] > 0).to(b.dtype)
    return k + (in_a * torch.exp(-2 * log_lengthscale[onehot])) @ in_b.T


def laplace_step(
    kx: torch.Tensor,
    b_cov: torch.Tensor,
    c: torch.Tensor,
    g: torch.Tensor,
    h: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Evidence and Newton step of a GP prior under a local quadratic likelihood model.

    The negative log likelihood near the current logits ``z`` is ``g.(f - z) + (f - z).H.(f
    - z) / 2`` summed over sites; the prior is ``f - mean ~ N(0, kron(Kx, B))``.

    Parameters
    ----------
    kx : Tensor (n, n)
        Kernel between the sites.
    b_cov : Tensor (k, k)
        Covariance between the learned parameters.
    c : Tensor (n, k)
        ``z - mean``.
    g, h : Tensor (n, k), (n, k, k)
        Per-site gradient and positive semi-definite Hessian of the negative log
        likelihood at ``z``.

    Returns
    -------
    log_evidence : Tensor ()
        Laplace log marginal likelihood of the quadratic model, up to a constant.
    alpha : Tensor (n, k)
        Coefficients of the posterior mean: ``f - mean = Kx @ alpha @ B``.
    """
    log_evidence, alpha, _ = _laplace(kx, b_cov, c, g, h)
    return log_evidence, alpha


def laplace_evidence_gradients(
    kx: torch.Tensor,
    b_cov: torch.Tensor,
    c: torch.Tensor,
    g: torch.Tensor,
    h: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`laplace_step`'s log evidence and its exact gradients, without autograd.

    With ``Sigma = kron(Kx, B)`` the prior covariance, ``alpha`` the posterior coefficients
    and ``R = S A^-1 S = (Sigma + H^-1)^-1``, the gradient with respect to ``Sigma`` is
    ``(alpha alpha' - R) / 2`` (Rasmussen & Williams 2006, eq. 5.9 with a fixed Hessian),
    contracted here with ``B`` and ``Kx``; with respect to ``c = z - mean`` it is ``H Sigma
    alpha - (H c - g)``. One Cholesky factor and its inverse replace the backward pass
    through the factorisation, several times cheaper at the evidence fit's size (n k about
    1,600).

    Parameters
    ----------
    kx, b_cov, c, g, h
        As :func:`laplace_step`.

    Returns
    -------
    log_evidence : Tensor ()
        As :func:`laplace_step`.
    d_kx : Tensor (n, n)
        Its partial derivatives with respect to the entries of ``kx``.
    d_b : Tensor (k, k)
        With respect to the entries of ``b_cov``.
    d_c : Tensor (n, k)
        With respect to ``c`` (for the mean: minus its sum over sites).
    """
    with torch.no_grad():
        log_evidence, alpha, (s, chol, b) = _laplace(kx, b_cov, c, g, h)
        n, k = c.shape
        # R_ij = S_i (A^-1)_ij S_j is needed only contracted with B and with Kx:
        # sum_ab (R_ij)_ab B_ab = tr(u_i.T (A^-1)_ij u_j), u_i = S_i L_B, from A^-1's block
        # rows (A^-1 symmetric); sum_ij Kx_ij R_ij = sum_i S_i sum_j Kx_ij (A^-1)_ij S_j
        ainv = torch.cholesky_inverse(chol)
        u = s @ torch.linalg.cholesky(b_cov)  # (n, k, k)
        rows = torch.bmm(u.transpose(1, 2), ainv.view(n, k, n * k)).view(n, k, n, k)
        r_b = torch.einsum("jeia,iae->ij", rows, u)
        weighted = (ainv.view(n, k, n, k) * kx[:, None, :, None]).view(n * k, n * k)
        r_k = torch.einsum("iac,icb->ab", s, (weighted @ s.reshape(n * k, k)).view(n, k, k))
        d_kx = 0.5 * (alpha @ b_cov @ alpha.T - r_b)
        d_b = 0.5 * (alpha.T @ kx @ alpha - r_k)
        d_c = torch.einsum("iab,ib->ia", h, kx @ alpha @ b_cov) - b
    return log_evidence, d_kx, d_b, d_c


def _laplace(kx, b_cov, c, g, h):
    """:func:`laplace_step` and the factors its gradients reuse: (s, chol, b)."""
    n, k = c.shape
    s = sqrtm_psd(h)
    u = (s @ torch.linalg.cholesky(b_cov)).reshape(n * k, k)
    ssk = (u @ u.T).reshape(n, k, n, k) * kx[:, None, :, None]
    b = torch.einsum("iab,ib->ia", h, c) - g
    log_evidence, alpha, chol = _posterior(ssk, s, b, kx @ b @ b_cov, c, g, h)
    return log_evidence, alpha, (s, chol, b)


def _posterior(ssk, s, b, kb, c, g, h):
    """The factorisation, posterior coefficients and log evidence shared by the shared and
    per-parameter kernels: ``ssk`` (n, k, n, k) is ``S Sigma S``, ``kb`` (n, k) ``Sigma
    b``; returns (log_evidence, alpha, Cholesky factor of ``I + S Sigma S``)."""
    n, k = c.shape
    a = ssk.reshape(n * k, n * k)
    a.diagonal().add_(1.0)
    chol = torch.linalg.cholesky(a)  # I + S Sigma S, eigenvalues >= 1
    skb = torch.einsum("iab,ib->ia", s, kb).reshape(-1)
    w = torch.cholesky_solve(skb[:, None], chol)[:, 0].reshape(n, k)
    alpha = b - torch.einsum("iab,ib->ia", s, w)
    logdet = 2 * torch.log(torch.diagonal(chol)).sum()
    quad = (b * kb).sum() - skb @ w.reshape(-1)
    log_evidence = (
        -0.5 * logdet + 0.5 * quad - 0.5 * torch.einsum("ia,iab,ib->", c, h, c) + (g * c).sum()
    )
    return log_evidence, alpha, chol


def rbf_stack(
    a: torch.Tensor, b: torch.Tensor, log_lengthscale: torch.Tensor, *kernel
) -> torch.Tensor:
    """One kernel per parameter: (k, na, nb) from length scales (k, d), each
    :func:`site_kernel` of ``a``, ``b``, that parameter's log length scales and ``kernel``
    (the correlation function's name, default the squared exponential, and the one-hot
    columns for additive categories)."""
    return torch.stack([site_kernel(a, b, ls, *kernel) for ls in log_lengthscale])


def laplace_evidence_gradients_separate(
    ks: torch.Tensor, c: torch.Tensor, g: torch.Tensor, h: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Laplace evidence, posterior coefficients and exact gradients for separate kernels.

    The prior of parameter ``j``'s logits is ``N(mean_j, ks[j])`` independently of the
    others (one kernel per parameter, its variance included); the sites' likelihood
    Hessians still couple the parameters. With a shared kernel ``Kx`` and a diagonal
    ``B``, ``ks[j] = B_jj Kx`` gives :func:`laplace_step`'s evidence.

    Parameters
    ----------
    ks : Tensor (k, n, n)
        Prior covariance of each parameter's logits between the sites.
    c, g, h
        ``z - mean`` (n, k), per-site gradient (n, k) and Hessian (n, k, k), as in
        :func:`laplace_step`.

    Returns
    -------
    log_evidence : Tensor ()
        Laplace log marginal likelihood of the quadratic model, up to a constant.
    alpha : Tensor (n, k)
        Posterior coefficients: ``f_j - mean_j = ks[j] @ alpha[:, j]``.
    d_ks : Tensor (k, n, n)
        Partial derivatives of the log evidence with respect to the entries of ``ks``.
    d_c : Tensor (n, k)
        With respect to ``c`` (for the mean: minus its sum over sites).
    """
    with torch.no_grad():
        n, k = c.shape
        s = sqrtm_psd(h)
        # S blockdiag(ks) S, S_i symmetric: [i a, l b] = sum_j s_iaj ks_jil s_lbj, one
        # product per site i of (a, j) by (j, l b)
        y = ks.permute(1, 0, 2)[:, :, :, None] * s.permute(2, 0, 1)[None]  # (i, j, l, b)
        ssk = torch.bmm(s, y.reshape(n, k, n * k)).view(n, k, n, k)
        b = torch.einsum("iab,ib->ia", h, c) - g
        kb = torch.einsum("jil,lj->ij", ks, b)
        log_evidence, alpha, chol = _posterior(ssk, s, b, kb, c, g, h)
        # R = S A^-1 S = (Sigma + H^-1)^-1; only its diagonal parameter blocks are needed
        ainv = torch.cholesky_inverse(chol)
        t = torch.bmm(s, ainv.view(n, k, n * k)).view(n, k, n, k)  # S_i (A^-1)_il: (i, j, l, b)
        r_diag = (t * s.permute(2, 0, 1)[None]).sum(-1).permute(1, 0, 2)  # R_jj: (k, i, l)
        d_ks = 0.5 * (alpha.T[:, :, None] * alpha.T[:, None, :] - r_diag)
        d_c = torch.einsum("iab,ib->ia", h, torch.einsum("jil,lj->ij", ks, alpha)) - b
    return log_evidence, alpha, d_ks, d_c


def kernel_basis(
    kx: torch.Tensor, rel_tol: float = 1e-8, max_rank: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Leading eigenpairs of a kernel matrix: ``kx ~= u @ diag(lam) @ u.T``.

    Parameters
    ----------
    kx : Tensor (n, n)
        Positive semi-definite kernel between the sites.
    rel_tol : float
        Eigenvalues below ``rel_tol`` times the largest are dropped (prior variance that no
        posterior can use: with the squared-exponential kernel the spectrum falls steeply).
    max_rank : int, optional
        Keep at most this many (the largest): a reduced-rank GP, a smoother prior than the
        full kernel, which bounds the cost of a Newton step.

    Returns
    -------
    lam : Tensor (r,)
        Kept eigenvalues.
    u : Tensor (n, r)
        Their orthonormal eigenvectors.
    """
    lam, u = torch.linalg.eigh(kx)
    keep = lam > rel_tol * lam[-1].clamp_min(1e-300)
    if max_rank is not None:
        keep[: max(len(lam) - max_rank, 0)] = False  # eigh sorts ascending
    return lam[keep], u[:, keep]


def pivoted_kernel_basis(
    kx: torch.Tensor, max_rank: int, rel_tol: float = 1e-8, pivot_tol: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`kernel_basis` from a pivoted Cholesky factor instead of a full eigendecomposition.

    The greedy pivoted (incomplete) Cholesky factorisation ``kx ~= L L.T`` (Harbrecht,
    Peters & Schneider 2012) adds the site with the largest residual variance until that
    falls below ``pivot_tol`` times the largest prior variance (every entry of ``kx`` is
    then within that of ``L L.T``) or ``max_rank`` columns; the eigenpairs of ``L L.T``
    (from ``L = Q R``) are kept above ``rel_tol`` times the largest, as in
    :func:`kernel_basis`. A kernel whose length scales leave few directions of variation
    has a few hundred such eigenpairs among thousands of sites: ``n r^2`` operations
    instead of the ``n^3`` of the full eigendecomposition (0.2-0.6 s against 5 s at 2,100
    sites).

    Parameters
    ----------
    kx : Tensor (n, n)
        Positive semi-definite kernel between the sites.
    max_rank : int
        At most this many pivots (columns of ``L``).
    rel_tol, pivot_tol : float
        Eigenvalue and residual-variance cut-offs, relative to the largest.

    Returns
    -------
    lam, u : Tensor (r,), (n, r)
        Eigenvalues (ascending) and orthonormal eigenvectors of ``L L.T``.
    """
    n = kx.shape[0]
    rank = min(max_rank, n)
    resid = torch.diagonal(kx).clone()
    low = torch.zeros(n, rank, dtype=kx.dtype, device=kx.device)
    floor = pivot_tol * float(resid.max())
    r = 0
    while r < rank:
        i = int(torch.argmax(resid))
        if not float(resid[i]) > floor:
            break
        col = (kx[:, i] - low[:, :r] @ low[i, :r]) / resid[i].sqrt()
        low[:, r] = col
        resid -= col * col
        resid[i] = 0.0
        r += 1
    q, upper = torch.linalg.qr(low[:, :r])
    lam, vec = torch.linalg.eigh(upper @ upper.T)
    keep = lam > rel_tol * lam[-1].clamp_min(1e-300)
    return lam[keep], q @ vec[:, keep]


class LowRankLaplace:
    """:func:`laplace_step` in the kernel's eigenbasis (weight space), for many sites.

    With ``Kx = u diag(lam) u.T`` and ``B = L L.T``, the prior is ``f - mean = phi W L.T``
    with ``phi = u sqrt(lam)`` (n, r) and ``W`` (r, k) standard normal, so the Newton
    system is ``(I + sum_i kron(phi_i phi_i.T, L.T H_i L)) vec(W) = vec(phi.T b L)``, of size
    ``r k`` instead of ``n k``. Equal to :func:`laplace_step` when no eigenvalue is dropped.
    The system matrix is built once per Hessian; a Levenberg-Marquardt damping ``H + d I``
    adds ``d kron(diag(lam), L.T L)`` to it (``phi.T phi = diag(lam)``), so damped retries
    cost one Cholesky factorisation each, and further steps with the same Hessians and
    damping (new gradients: chord steps) none.

    Parameters
    ----------
    lam, u : Tensor (r,), (n, r)
        Kernel eigenpairs from :func:`kernel_basis`.
    b_cov : Tensor (k, k)
        Covariance between the learned parameters.
    h : Tensor (n, k, k)
        Per-site positive semi-definite Hessian of the negative log likelihood.
    """

    def __init__(self, lam: torch.Tensor, u: torch.Tensor, b_cov: torch.Tensor,
                 h: torch.Tensor) -> None:  # fmt: skip
        self.lam, self.u, self.h = lam, u, h
        r, k = lam.shape[0], b_cov.shape[0]
        self.phi = u * lam.sqrt()
        self.low = torch.linalg.cholesky(b_cov)
        m = self.low.T @ h @ self.low  # (n, k, k)
        gram = torch.empty(r, k, r, k, dtype=h.dtype, device=h.device)
        for a in range(k):  # one (r, r) block per pair: sites x rank of memory, not x pairs
            for b in range(a, k):
                block = self.phi.T @ (self.phi * m[:, a, b, None])
                gram[:, a, :, b] = block
                gram[:, b, :, a] = block.T
        self.gram = gram.reshape(r * k, r * k)
        self.gram.diagonal().add_(1.0)
        # the damping d kron(diag(lam), L.T L) is block diagonal: kept as its (r, k, k) blocks
        self.damping = lam[:, None, None] * (self.low.T @ self.low)
        self._factors: dict[float, torch.Tensor] = {}  # Cholesky factor per damping

    def factor(self, damp: float = 0.0) -> torch.Tensor:
        """Cholesky factor (r k, r k) of the system with damping ``damp`` (computed once:
        further steps with the same Hessians and damping, e.g. chord steps, reuse it)."""
        chol = self._factors.get(damp)
        if chol is None:
            r, k = self.lam.shape[0], self.low.shape[0]
            gram = self.gram
            if damp:
                gram = gram.clone()
                blocks = gram.view(r, k, r, k)
                i = torch.arange(r, device=gram.device)
                blocks[i, :, i, :] += damp * self.damping
            chol = self._factors[damp] = torch.linalg.cholesky(gram)
        return chol

    def step(
        self, c: torch.Tensor, g: torch.Tensor, damp: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Evidence and Newton step as :func:`laplace_step` with Hessians ``h + damp I``.

        Parameters
        ----------
        c, g : Tensor (n, k)
            ``z - mean`` and the per-site gradient.
        damp : float
            Levenberg-Marquardt damping added to every site's Hessian.

        Returns
        -------
        log_evidence, alpha
            As :func:`laplace_step`; ``alpha`` (n, k) gives the posterior mean through the
            kernel, so predictions at new sites need no basis.
        """
        r, k = self.lam.shape[0], c.shape[1]
        chol = self.factor(damp)
        hc = torch.einsum("iab,ib->ia", self.h, c) + damp * c
        rhs = (self.phi.T @ (hc - g) @ self.low).reshape(-1)
        w = torch.cholesky_solve(rhs[:, None], chol)[:, 0].reshape(r, k)
        alpha = (self.u / self.lam.sqrt()) @ w @ torch.linalg.inv(self.low)
        log_evidence = (
            -torch.log(torch.diagonal(chol)).sum()
            + 0.5 * (rhs @ w.reshape(-1))
            - 0.5 * (c * hc).sum()
            + (g * c).sum()
        )
        return log_evidence, alpha


class SeparateLowRankLaplace:
    """:class:`LowRankLaplace` with one kernel per parameter (each its own eigenbasis).

    Parameter ``j``'s logits are ``mean_j + phi_j w_j``, ``phi_j = u_j sqrt(lam_j)`` (n,
    r_j), ``w_j`` standard normal and independent between parameters; the Newton system
    ``I + Phi.T H Phi`` has ``sum_j r_j`` rows, its ``(a, b)`` block ``phi_a.T diag(H_ab)
    phi_b``. A damping ``H + d I`` adds ``d diag(lam)`` (``phi_j.T phi_j = diag(lam_j)``).

    Parameters
    ----------
    bases : list of (Tensor (r_j,), Tensor (n, r_j))
        Eigenpairs of each parameter's prior covariance (its variance included).
    h : Tensor (n, k, k)
        Per-site positive semi-definite Hessian of the negative log likelihood.
    """

    def __init__(self, bases: list[tuple[torch.Tensor, torch.Tensor]], h: torch.Tensor) -> None:
        self.bases, self.h = bases, h
        self.phi = [u * lam.sqrt() for lam, u in bases]
        sizes = [len(lam) for lam, _ in bases]
        self.offsets = [sum(sizes[:j]) for j in range(len(sizes) + 1)]
        o, total = self.offsets, self.offsets[-1]
        gram = torch.empty(total, total, dtype=h.dtype, device=h.device)
        for a in range(len(bases)):
            for b in range(a, len(bases)):
                block = self.phi[a].T @ (self.phi[b] * h[:, a, b, None])
                gram[o[a] : o[a + 1], o[b] : o[b + 1]] = block
                gram[o[b] : o[b + 1], o[a] : o[a + 1]] = block.T
        gram.diagonal().add_(1.0)
        self.gram = gram
        self.damping = torch.cat([lam for lam, _ in bases])
        self._factors: dict[float, torch.Tensor] = {}

    def factor(self, damp: float = 0.0) -> torch.Tensor:
        """Cholesky factor of the system with damping ``damp`` (cached per damping)."""
        chol = self._factors.get(damp)
        if chol is None:
            gram = self.gram + torch.diag(damp * self.damping) if damp else self.gram
            chol = self._factors[damp] = torch.linalg.cholesky(gram)
        return chol

    def step(
        self, c: torch.Tensor, g: torch.Tensor, damp: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Evidence and Newton step as :meth:`LowRankLaplace.step`; ``alpha`` (n, k) gives
        parameter ``j``'s posterior mean through its own kernel."""
        chol, o = self.factor(damp), self.offsets
        hc = torch.einsum("iab,ib->ia", self.h, c) + damp * c
        rhs = torch.cat([self.phi[j].T @ (hc - g)[:, j] for j in range(len(self.phi))])
        w = torch.cholesky_solve(rhs[:, None], chol)[:, 0]
        alpha = torch.stack(
            [(u / lam.sqrt()) @ w[o[j] : o[j + 1]] for j, (lam, u) in enumerate(self.bases)],
            dim=1,
        )
        log_evidence = (
            -torch.log(torch.diagonal(chol)).sum() + 0.5 * (rhs @ w) - 0.5 * (c * hc).sum()
            + (g * c).sum()
        )  # fmt: skip
        return log_evidence, alpha


def step_candidates(
    numeric: torch.Tensor,
    lonlat: torch.Tensor | None,
    spacing: float = 0.04,
    min_side: int = 20,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Candidate steps of the parameters along the covariates: (variable, edge) pairs.

    Each numeric covariate (and lon, lat) gets edges at its quantiles ``spacing``,
    ``2 spacing``, ... below 1 over the training sites, each kept once and only with at
    least ``min_side`` sites on either side.

    Parameters
    ----------
    numeric : Tensor (n, c)
        Raw numeric covariates of the training sites (NaN ignored).
    lonlat : Tensor (n, 2) or None
        Longitude and latitude (degrees), variables ``c`` and ``c + 1``; None leaves them out.
    spacing : float
        Quantile spacing of the edges.
    min_side : int
        Sites required above and below an edge.

    Returns
    -------
    var : Tensor (m,) long
        Each candidate's variable (column of ``numeric``, then lon, lat).
    edge : Tensor (m,) float64
        Its edge, in the variable's own units: the step is ``[x > edge]``.
    """
    raw = _step_variables(numeric, lonlat)
    q = torch.arange(spacing, 1.0 - 1e-9, spacing, dtype=torch.float64, device=raw.device)
    var, edge = [], []
    for j in range(raw.shape[1]):
        col = raw[:, j][torch.isfinite(raw[:, j])]
        if col.numel() < 2 * min_side:
            continue
        for e in torch.unique(torch.quantile(col, q)).tolist():
            above = int((col > e).sum())
            if min_side <= above <= col.numel() - min_side:
                var.append(j)
                edge.append(e)
    return (torch.tensor(var, dtype=torch.long, device=raw.device),
            torch.tensor(edge, dtype=torch.float64, device=raw.device))  # fmt: skip


def _step_variables(numeric: torch.Tensor, lonlat: torch.Tensor | None) -> torch.Tensor:
    parts = [numeric.to(torch.float64)]
    if lonlat is not None:
        parts.append(lonlat.to(torch.float64))
    return torch.cat(parts, dim=1)


def step_indicators(
    numeric: torch.Tensor, lonlat: torch.Tensor | None, var: torch.Tensor, edge: torch.Tensor
) -> torch.Tensor:
    """Indicators (n, m) float64 that each site's variable ``var`` exceeds ``edge`` (NaN
    exceeds none); ``numeric``, ``lonlat`` and the candidates as :func:`step_candidates`."""
    raw = _step_variables(numeric, lonlat)
    return (raw[:, var] > edge.to(raw.device)).to(torch.float64)


def select_steps(
    system: SeparateLowRankLaplace,
    alpha: torch.Tensor,
    columns: torch.Tensor,
    bar: float,
    max_new: int,
    params: Sequence[int] | None = None,
) -> list[tuple[int, int, float, float]]:
    """Steps added to the parameters' priors by the fast marginal likelihood.

    Adding ``v u u'`` to parameter ``j``'s prior covariance, ``u`` a candidate column (a
    centred step indicator), changes the Laplace log evidence of the quadratic model by
    ``(log(1 + v s) - v q^2 / (1 + v s)) / -2``, with ``s = u' Sigma^-1 u``, ``q = u'
    alpha`` and ``Sigma = Phi Phi' + H^-1`` the pseudo-observations' covariance
    (Tipping & Faul 2003). It is largest at ``v = (q^2 - s) / s^2`` where ``q^2 > s``:
    ``(q^2 / s - 1 - log(q^2 / s)) / 2``. ``Sigma^-1`` is applied by Woodbury in the
    system's eigenbases (``H - H Phi (I + Phi' H Phi)^-1 Phi' H``, its Cholesky factor
    reused), so all candidates of all parameters are scored at the cost of one
    triangular solve. Greedy: the candidate of largest gain is added while that exceeds
    ``bar``, the others' ``s`` and ``q`` updated for it (Woodbury again, in the added
    columns), at most ``max_new`` times.

    Parameters
    ----------
    system : SeparateLowRankLaplace
        The Newton system at the posterior mode (its bases, Hessians and factor).
    alpha : Tensor (n, k)
        Posterior coefficients at the mode (:meth:`SeparateLowRankLaplace.step`):
        ``Sigma^-1`` times the pseudo-observations' residual.
    columns : Tensor (n, m)
        Candidate columns, centred over the training sites.
    bar : float
        Least gain in log evidence (nats) for a step to be added.
    max_new : int
        At most this many added.
    params : sequence of int, optional
        The parameters that may step (default all).

    Returns
    -------
    list of (j, c, v, gain)
        Parameter, candidate column, prior variance (logits^2) and gain, in the order
        added.
    """
    h, phi, o = system.h, system.phi, system.offsets
    n, k = alpha.shape
    m = columns.shape[1]
    chol = system.factor(0.0)
    # Z[:, j m + c] = L^-1 Phi' H u_(j, c): block a of Phi' H u is phi_a' (H[:, a, j] * u)
    z = torch.empty(o[-1], k * m, dtype=h.dtype, device=h.device)
    for j in range(k):
        for a in range(k):
            z[o[a] : o[a + 1], j * m : (j + 1) * m] = phi[a].T @ (h[:, a, j, None] * columns)
    z = torch.linalg.solve_triangular(chol, z, upper=False)
    quad = torch.cat([(h[:, j, j, None] * columns * columns).sum(0) for j in range(k)])
    s0 = quad - (z * z).sum(0)  # (k m,) u' Sigma^-1 u
    q0 = (columns.T @ alpha).T.reshape(-1)  # (k m,) u' alpha, index j m + c

    def cross(i: int) -> torch.Tensor:
        # u_i' Sigma^-1 u for every candidate u (k m,)
        j, c = divmod(i, m)
        hu = torch.cat([columns.T @ (h[:, jj, j] * columns[:, c]) for jj in range(k)])
        return hu - z.T @ z[:, i]

    chosen: list[tuple[int, int, float, float]] = []
    cols: list[torch.Tensor] = []  # cross(i) of the chosen
    for _ in range(max_new):
        s, q = s0.clone(), q0.clone()
        if chosen:
            g_s = torch.stack(cols, 1)  # (k m, p)
            idx = [j * m + c for j, c, _, _ in chosen]
            mat = torch.diag(torch.tensor([1 / v for _, _, v, _ in chosen], dtype=h.dtype,
                                          device=h.device)) + g_s[idx]  # fmt: skip
            sol = torch.linalg.solve(mat, torch.cat([g_s.T, q0[idx, None]], 1))
            s = s - (g_s * sol[:, : k * m].T).sum(1)
            q = q - g_s @ sol[:, k * m]
        ratio = q * q / s.clamp_min(1e-300)
        # s at round-off of u' H u: a direction the SOC does not see
        gain = torch.where((ratio > 1) & (s > 1e-9 * quad),
                           0.5 * (ratio - 1 - torch.log(ratio.clamp_min(1e-300))),
                           torch.zeros_like(ratio))  # fmt: skip
        for j, c, _, _ in chosen:
            gain[j * m + c] = 0.0
        if params is not None:
            for j in set(range(k)) - set(params):
                gain[j * m : (j + 1) * m] = 0.0
        best = int(torch.argmax(gain))
        if not float(gain[best]) > bar:
            break
        j, c = divmod(best, m)
        v = float((q[best] ** 2 - s[best]) / s[best] ** 2)
        chosen.append((j, c, v, float(gain[best])))
        cols.append(cross(best))
    return chosen


class GPPrior(nn.Module):
    """Learned parameters from a fitted GP posterior mean; replaces a ParamNet in BINN.

    Parameters
    ----------
    net : ParamNet
        The trained network; its input scaling (``net.inputs``) makes the features.
    n_sites, n_features, n_out : int
        Sizes of the stored posterior (training sites, features, learned parameters).
    use_lonlat : bool
        Whether (lon, lat) are features (``data.use_lonlat``).
    blend : float or sequence of float (n_out,)
        Weight of the GP posterior mean in the returned parameters (unit scale), one for
        all or one per learned parameter; the rest is the network's own output: ``p = blend
        * sigmoid(z_gp) + (1 - blend) * net(x)``, an average over the two priors
        (``train.gp_prior.blend``, and 1 for the parameters in ``train.gp_prior.gp_alone``).
    kernel : {"shared", "per_parameter"}
        ``train.gp_prior.kernel``: one set of length scales (n_features,) for all learned
        parameters, or one per parameter (n_out, n_features) with a diagonal ``B``.
    correlation : {"squared_exponential", "matern52", "additive", "additive_exponential"}
        The kernels' correlation function (:data:`CORRELATIONS`,
        ``train.gp_prior.correlation``).
    categories : {"product", "additive"}
        ``train.gp_prior.categories``: the categories' one-hot columns inside the kernel's
        distance, or added to it as random offsets (:func:`site_kernel`).
    offset_variance : float or sequence of float (n_out,)
        ``train.gp_prior.offset_variance`` (logits^2, ``kernel = per_parameter``), one or
        per parameter (``train.gp_prior.offset_fit``): parameter ``j``'s prior covariance
        is ``B_jj K_j + offset_variance_j`` (a constant offset of its logits, shared by all
        sites), and so is its covariance with new sites.
    cells : int
        One-hot cells among the features, after the categories' columns: lon/lat cells
        (``train.gp_prior.cells``, :func:`cell_keys`), then regions
        (``train.gp_prior.regions``, :func:`region_keys`; their codes are the columns of
        ``categorical`` after the network's); buffer ``cell_keys`` (cells, 3).
    steps : int
        Steps along the covariates chosen by the stage (``train.gp_prior.steps``,
        :func:`select_steps`): parameter ``step_param[t]``'s logits move by
        ``step_weight[t]`` times the centred indicator ``[x_v > step_edge[t]] -
        step_center[t]``, ``v = step_var[t]`` (a column of the raw numeric covariates, then
        lon, lat); ``step_weight`` is the step's prior variance times its indicator's
        product with the training sites' ``alpha``, so the step's posterior mean predicts
        at new sites.

    ``forward(numeric (n, c), categorical (n, m), lonlat (n, 2)) -> (n, n_out)`` in (0, 1),
    as :class:`soilbinn.nn.param_net.ParamNet`. The buffers (training features, ``alpha``,
    hyperparameters) are in the state dict, so a checkpoint rebuilds the prediction.
    """

    def __init__(
        self,
        net: nn.Module,
        n_sites: int,
        n_features: int,
        n_out: int,
        use_lonlat: bool = True,
        blend: float | Sequence[float] = 1.0,
        kernel: str = "shared",
        correlation: str = "squared_exponential",
        categories: str = "product",
        offset_variance: float | Sequence[float] = 0.0,
        steps: int = 0,
        cells: int = 0,
    ) -> None:
        super().__init__()
        off = ([float(offset_variance)] * n_out if isinstance(offset_variance, (int, float))
               else [float(v) for v in offset_variance])  # fmt: skip
        if (len(off) != n_out or min(off) < 0
                or (max(off) > 0 and kernel != "per_parameter")):  # fmt: skip
            raise ValueError(f"offset_variance must be one or {n_out} values >= 0, all 0 "
                             f"unless kernel = per_parameter, got {offset_variance!r} with "
                             f"kernel {kernel!r}")  # fmt: skip
        self.offset_variance = off
        if correlation not in CORRELATIONS and correlation not in SUMS:
            raise ValueError(f"correlation must be one of {sorted(CORRELATIONS) + sorted(SUMS)}"
                             f", got {correlation!r}")  # fmt: skip
        if categories not in ("product", "additive"):
            raise ValueError(f"categories must be product or additive, got {categories!r}")
        self.net, self.use_lonlat, self.kernel = net, use_lonlat, kernel
        self.correlation, self.categories = correlation, categories
        onehot = self.onehot_columns(net, n_features) if categories == "additive" else None
        self.register_buffer("onehot", onehot, persistent=False)  # rebuilt from the network
        cell_mask = self.cell_columns(net, n_features, cells) if cells else None
        self.register_buffer("cell_mask", cell_mask, persistent=False)
        b = [float(blend)] * n_out if isinstance(blend, (int, float)) else [float(v) for v in blend]
        if len(b) != n_out or not all(0.0 <= v <= 1.0 for v in b):
            raise ValueError(
                f"blend must be one weight in [0, 1] or {n_out} of them, got {blend!r}"
            )
        self.blend = b
        f64 = torch.float64
        self.register_buffer("x_train", torch.zeros(n_sites, n_features, dtype=f64))
        self.register_buffer("alpha", torch.zeros(n_sites, n_out, dtype=f64))
        width = lengthscale_width(correlation, n_features)
        shape = (n_out, width) if kernel == "per_parameter" else (width,)
        self.register_buffer("log_lengthscale", torch.zeros(shape, dtype=f64))
        self.register_buffer("chol_b", torch.eye(n_out, dtype=f64))
        self.register_buffer("mean", torch.zeros(n_out, dtype=f64))
        self.register_buffer("feature_mean", torch.zeros(n_features, dtype=f64))
        self.register_buffer("feature_std", torch.ones(n_features, dtype=f64))
        # the lon/lat cells among the features (train.gp_prior.cells, cell_keys): (m, 3);
        # None without (and so absent from the checkpoints of runs without cells)
        self.register_buffer("cell_keys", torch.zeros(cells, 3, dtype=f64) if cells else None)
        self.register_buffer("step_param", torch.zeros(steps, dtype=torch.long))
        self.register_buffer("step_var", torch.zeros(steps, dtype=torch.long))
        for name in ("step_edge", "step_center", "step_weight"):
            self.register_buffer(name, torch.zeros(steps, dtype=f64))

    @property
    def temperature(self) -> torch.Tensor:
        return self.net.temperature

    @staticmethod
    def raw_features(
        net: nn.Module,
        numeric,
        categorical=None,
        lonlat=None,
        use_lonlat: bool = True,
        cells: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Unstandardised features (n, d): scaled covariates, one-hot categories, with
        ``cells`` the one-hot cells (lon/lat cells of :func:`cell_keys`, with lon/lat; regions
        of :func:`region_keys`, whose codes are the columns of ``categorical`` after the
        network's), lon/lat/10."""
        inputs = net.inputs
        parts = [inputs.scale(numeric).to(torch.float64)]
        for j, k in enumerate(inputs.n_categories.tolist()):
            codes = categorical[:, j].long()
            known = (codes >= 0) & (codes < k)
            onehot = torch.zeros(len(codes), k, dtype=torch.float64, device=codes.device)
            onehot[known, codes[known]] = 1.0
            parts.append(onehot)
        if cells is not None and len(cells):
            regions = (
                categorical[:, len(inputs.n_categories) :] if categorical is not None else None
            )
            parts.append(cell_onehots(lonlat, cells, regions))
        if use_lonlat:
            parts.append(torch.nan_to_num(lonlat.to(torch.float64) / 10.0))
        return torch.cat(parts, dim=1)

    @staticmethod
    def onehot_columns(net: nn.Module, n_features: int) -> torch.Tensor:
        """(n_features,) bool: the categories' one-hot columns of :meth:`raw_features`
        (after the scaled numeric covariates)."""
        inputs = net.inputs
        start = int(inputs.numeric_min.numel())
        mask = torch.zeros(n_features, dtype=torch.bool)
        mask[start : start + int(inputs.n_categories.sum())] = True
        return mask

    @staticmethod
    def cell_columns(net: nn.Module, n_features: int, n_cells: int) -> torch.Tensor:
        """(n_features,) bool: the ``n_cells`` lon/lat cells' one-hot columns of
        :meth:`raw_features` (after the categories', before lon/lat)."""
        inputs = net.inputs
        start = int(inputs.numeric_min.numel()) + int(inputs.n_categories.sum())
        mask = torch.zeros(n_features, dtype=torch.bool)
        mask[start : start + n_cells] = True
        return mask

    def features(self, numeric, categorical=None, lonlat=None) -> torch.Tensor:
        x = self.raw_features(self.net, numeric, categorical, lonlat, self.use_lonlat,
                              self.cell_keys)  # fmt: skip
        return (x - self.feature_mean) / self.feature_std

    def b_cov(self) -> torch.Tensor:
        return self.chol_b @ self.chol_b.T

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior mean logits (n, k) at standardised features x (n, d)."""
        if self.kernel == "per_parameter":
            ks = rbf_stack(x, self.x_train, self.log_lengthscale, self.correlation,
                           self.onehot, self.cell_mask)  # fmt: skip
            f = torch.einsum("jil,lj->ij", ks, self.alpha) * torch.diagonal(self.b_cov())
            off = torch.tensor(self.offset_variance, dtype=f.dtype, device=f.device)
            return self.mean + f + off * self.alpha.sum(0)
        kx = site_kernel(x, self.x_train, self.log_lengthscale, self.correlation, self.onehot,
                         self.cell_mask)  # fmt: skip
        return self.mean + kx @ self.alpha @ self.b_cov()

    def cell_offsets(self) -> torch.Tensor:
        """(m, n_out) float64: the posterior mean offset of the logits that each cell or
        region of ``cell_keys`` adds at its sites (0 where its gate held it; per-parameter
        kernels, the only ones with cells)."""
        d = self.x_train.shape[1]
        ls = self.log_lengthscale[:, :d][:, self.cell_mask]  # (n_out, m)
        var = torch.exp(-2 * ls) * (ls < CELL_HELD).to(ls.dtype)
        inside = (self.x_train[:, self.cell_mask] > 0).to(self.alpha.dtype)  # (n_train, m)
        return var.T * (inside.T @ self.alpha) * torch.diagonal(self.b_cov())

    def offset_logits(self, categorical, lonlat) -> torch.Tensor:
        """(n, n_out) float64: the part of the posterior mean logits that the sites' cells
        and regions add (:meth:`cell_offsets`; 0 at a site in none)."""
        if self.cell_keys is None:
            return torch.zeros(len(categorical), len(self.mean), dtype=torch.float64,
                               device=self.mean.device)  # fmt: skip
        regions = categorical[:, len(self.net.inputs.n_categories) :]
        onehots = cell_onehots(lonlat.to(self.mean.device), self.cell_keys, regions)
        return onehots @ self.cell_offsets()

    def step_logits(self, numeric, lonlat=None) -> torch.Tensor:
        """The steps' part (n, n_out) of the posterior mean logits at new sites."""
        out = torch.zeros(len(numeric), len(self.mean), dtype=torch.float64,
                          device=self.mean.device)  # fmt: skip
        if self.step_param.numel():
            ind = step_indicators(numeric, lonlat if self.use_lonlat else None, self.step_var,
                                  self.step_edge)  # fmt: skip
            out.index_add_(1, self.step_param, (ind - self.step_center) * self.step_weight)
        return out

    def forward(self, numeric, categorical=None, lonlat=None) -> torch.Tensor:
        z = self.logits(self.features(numeric, categorical, lonlat))
        p = torch.sigmoid(z + self.step_logits(numeric, lonlat))
        if min(self.blend) < 1.0:
            w = torch.tensor(self.blend, dtype=p.dtype, device=p.device)
            p = w * p + (1.0 - w) * self.net(numeric, categorical, lonlat).to(p.dtype)
        return p.to(torch.float32)
