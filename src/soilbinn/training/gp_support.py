"""Which covariates each learned parameter depends on, estimated for the GP stage.

``train.gp_prior.support: sbl`` (:func:`soilbinn.training.gp_fit.fit_gp_prior`): from the
second round on, each parameter's kernel leaves out the features that this estimate calls
irrelevant to it, instead of varying along every feature any parameter needs (the
per-parameter kernels of a dense evidence fit end up nearly alike: ``docs/
recovery_ablation.md``, stop 67). The estimate is sparse Bayesian learning (group
automatic relevance determination; Tipping 2001, MacKay 1992) of an additive model of
each parameter's logits, fitted to all training sites under the local quadratic model
of the misfit that the GP stage's Newton steps use:

    z_j(x) = m_j + sum_g Phi_g(x) w_jg,    w_jg ~ N(0, I / a_jg),

one group ``g`` per numeric covariate (its standardised value and Gaussian bumps at its
quantiles) and per categorical covariate (its one-hot columns). The precisions ``a_jg``
maximise the evidence (MacKay's fixed-point updates); a group whose precision ends above
``precision_max`` contributes nothing to that parameter, and its features are held out of
the parameter's kernel. The additive model sees main effects only, so where a truth has
interactions it keeps most covariates (stop 67): the estimate errs toward keeping.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

#: Gaussian bumps per numeric covariate, at its 5-95% quantiles, and their width (sd)
N_BUMPS, BUMP_WIDTH = 7, 0.6


def additive_basis(
    x: torch.Tensor, category_blocks: Sequence[Sequence[int]]
) -> tuple[list[torch.Tensor], list[list[int]]]:
    """The groups of basis functions of the additive model, and the features of each.

    Parameters
    ----------
    x : Tensor (n, d) float64
        Standardised features of the training sites (:meth:`GPPrior.features`).
    category_blocks : sequence of sequence of int
        The one-hot columns of each categorical covariate; every other column is numeric.

    Returns
    -------
    groups : list of Tensor (n, p_g)
        Centred basis functions: per numeric column its value and :data:`N_BUMPS` bumps,
        standardised; per categorical covariate its one-hot columns, centred (columns no
        site takes are dropped, a covariate no site varies in is left out).
    columns : list of list of int
        The feature columns each group stands for.
    """
    onehot = {c for blk in category_blocks for c in blk}
    q = torch.linspace(0.05, 0.95, N_BUMPS, dtype=x.dtype, device=x.device)
    groups, columns = [], []
    for col in range(x.shape[1]):
        if col in onehot:
            continue
        v = x[:, col]
        centres = torch.quantile(v, q)
        width = BUMP_WIDTH * float(v.std()) + 1e-12
        phi = torch.cat([v[:, None], torch.exp(-0.5 * ((v[:, None] - centres) / width) ** 2)], 1)
        groups.append((phi - phi.mean(0)) / phi.std(0).clamp_min(1e-9))
        columns.append([col])
    for blk in category_blocks:
        phi = (x[:, list(blk)] > 0).to(x.dtype)
        phi = phi - phi.mean(0)
        varies = phi.abs().sum(0) > 0
        if bool(varies.any()):
            groups.append(phi[:, varies])
            columns.append(list(blk))
    return groups, columns


def group_precisions(
    z: torch.Tensor,
    g: torch.Tensor,
    h: torch.Tensor,
    groups: Sequence[torch.Tensor],
    iterations: int = 200,
    tol: float = 1e-6,
) -> torch.Tensor:
    """Evidence-maximising prior precisions of the additive model's groups.

    The misfit near the logits ``z`` is ``g.(f - z) + (f - z).H.(f - z) / 2`` summed over
    sites, ``f_i = (1, Phi(x_i)) w_j`` for parameter ``j``; each group of each parameter
    has one precision, the intercepts a flat prior.

    Parameters
    ----------
    z, g : Tensor (n, k)
        Logits of the learned parameters and the misfit's gradient there.
    h : Tensor (n, k, k)
        The misfit's (Gauss-Newton) Hessian per site.
    groups : sequence of Tensor (n, p_g)
        From :func:`additive_basis`.
    iterations : int
        At most this many of MacKay's fixed-point updates (they converge within 200 on the
        truths of stop 67).
    tol : float
        The updates stop once none changes a log precision by more than this (the
        precisions are compared with a threshold; 1e-6 is reached in about 100 updates on
        the truths of stop 80).

    Returns
    -------
    Tensor (k, len(groups))
        The precisions, clamped to [1e-8, 1e12] (1e12: the group is switched off).
    """
    n, k = z.shape
    sizes = [int(gr.shape[1]) for gr in groups]
    phi = torch.cat([torch.ones(n, 1, dtype=z.dtype, device=z.device), *groups], 1)
    p = phi.shape[1]
    # the quadratic model in the coefficients w (k blocks of p): A0 w = b at its minimum
    a0 = torch.einsum("iab,ip,iq->apbq", h, phi, phi).reshape(k * p, k * p)
    b = torch.einsum("ia,ip->ap", torch.einsum("iab,ib->ia", h, z) - g, phi).reshape(k * p)
    group_of = torch.tensor([-1] + [gi for gi, s in enumerate(sizes) for _ in range(s)],
                            device=z.device)  # fmt: skip
    gid = torch.cat([torch.where(group_of < 0, -1, group_of + j * len(sizes))
                     for j in range(k)])  # fmt: skip
    member = torch.nn.functional.one_hot(gid.clamp_min(0), k * len(sizes)).to(z.dtype)
    member = member * (gid >= 0).to(z.dtype)[:, None]  # (k p, groups), intercepts none
    size = member.sum(0)
    alpha = torch.ones(k * len(sizes), dtype=z.dtype, device=z.device)
    flat = (gid < 0).to(z.dtype) * 1e-6
    for _ in range(iterations):
        chol = torch.linalg.cholesky(a0 + torch.diag(member @ alpha + flat))
        w = torch.cholesky_solve(b[:, None], chol)[:, 0]
        var = torch.diagonal(torch.cholesky_inverse(chol))
        gamma = (size - alpha * (member.T @ var)).clamp_min(1e-12)  # well-determined ones
        new = (gamma / (member.T @ w**2).clamp_min(1e-30)).clamp(1e-8, 1e12)
        done = float((new.log() - alpha.log()).abs().max()) <= tol
        alpha = new
        if done:
            break
    return alpha.reshape(k, len(sizes))


def estimate_support(
    x: torch.Tensor,
    z: torch.Tensor,
    g: torch.Tensor,
    h: torch.Tensor,
    category_blocks: Sequence[Sequence[int]],
    precision_max: float = 1e4,
    exempt: Sequence[int] = (),
) -> torch.Tensor:
    """The features each learned parameter's kernel leaves out.

    Parameters
    ----------
    x, z, g, h
        Standardised features (n, d), logits (n, k), the misfit's gradient (n, k) and
        Hessian (n, k, k) at the training sites.
    category_blocks : sequence of sequence of int
        The one-hot columns of each categorical covariate.
    precision_max : float
        A group whose precision ends above this (its coefficients' prior sd below
        ``precision_max ** -0.5`` logits) is irrelevant to that parameter.
    exempt : sequence of int
        Learned parameters that keep every feature (w_scaling when its Newton steps start
        at each site's saturation threshold: its logits there are a function of climate,
        which the additive model would read as the parameter's own dependence).

    Returns
    -------
    Tensor (k, d) bool
        True where parameter ``j`` leaves feature ``c`` out
        (``fit_gp_prior``'s ``irrelevant``).
    """
    groups, columns = additive_basis(x, category_blocks)
    alpha = group_precisions(z, g, h, groups)
    out = torch.ones(z.shape[1], x.shape[1], dtype=torch.bool, device=x.device)
    for j in range(z.shape[1]):
        for gi, cols in enumerate(columns):
            if j in exempt or float(alpha[j, gi]) <= precision_max:
                out[j, cols] = False
    return out
