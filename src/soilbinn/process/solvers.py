"""Steady-state solvers for :class:`~soilbinn.process.system.SteadyStateSystem`.

``structured`` exploits the pool cascade (CWD -> litter -> SOM) and the tridiagonal
coupling across layers: a batched Thomas sweep (scalar for litter, 3x3 blocks for SOM),
O(20) work per site, no pivoting needed because ``P`` is an M-matrix. Its backward pass
solves the transposed system with the same structure (implicit-function gradient), so no
intermediate of the sweep is stored. ``dense`` assembles the 140x140 matrix and calls
``torch.linalg.solve``: the reference the structured solver is tested against.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from soilbinn.process.system import SteadyStateSystem


def thomas(lower: torch.Tensor, diag: torch.Tensor, upper: torch.Tensor, rhs: torch.Tensor):
    """Batched scalar tridiagonal solve along the last axis (length 20).

    ``lower[..., j]`` multiplies ``x[..., j-1]`` (``lower[..., 0]`` unused) and
    ``upper[..., j]`` multiplies ``x[..., j+1]``; all arguments broadcast together.
    """
    L = rhs.shape[-1]
    cp, dp = [], []
    c_prev = d_prev = None
    for j in range(L):
        if j == 0:
            den = diag[..., 0]
            d_j = rhs[..., 0] / den
        else:
            den = diag[..., j] - lower[..., j] * c_prev
            d_j = (rhs[..., j] - lower[..., j] * d_prev) / den
        c_j = upper[..., j] / den if j < L - 1 else None
        cp.append(c_j)
        dp.append(d_j)
        c_prev, d_prev = c_j, d_j
    x = [None] * L
    x[L - 1] = dp[L - 1]
    for j in range(L - 2, -1, -1):
        x[j] = dp[j] - cp[j] * x[j + 1]
    return torch.stack(x, dim=-1)


def _inv3(m: torch.Tensor) -> torch.Tensor:
    """Inverse of (..., 3, 3) matrices by the adjugate (elementwise, batched).

    Each matrix is scaled by its largest entry first: rates down to 1e-130 d-1 would
    otherwise underflow the determinant.
    """
    scale = m.detach().abs().amax(dim=(-2, -1), keepdim=True)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return _inv3_unscaled(m / scale) / scale


def _inv3_unscaled(m: torch.Tensor) -> torch.Tensor:
    a, b, c = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    d, e, f = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    g, h, i = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    co00, co01, co02 = e * i - f * h, f * g - d * i, d * h - e * g
    det = a * co00 + b * co01 + c * co02
    adj = torch.stack(
        [
            torch.stack([co00, c * h - b * i, b * f - c * e], dim=-1),
            torch.stack([co01, a * i - c * g, c * d - a * f], dim=-1),
            torch.stack([co02, b * g - a * h, a * e - b * d], dim=-1),
        ],
        dim=-2,
    )
    return adj / det[..., None, None]


def _mv3(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return (m * v[..., None, :]).sum(-1)


def block_thomas(lower: torch.Tensor, blocks: torch.Tensor, upper: torch.Tensor, rhs: torch.Tensor):
    """Block-tridiagonal solve with 3x3 diagonal blocks and scalar off-diagonal blocks.

    Parameters
    ----------
    lower, upper : Tensor (n, 20)
        Scalar couplings to the layer above / below (times the 3x3 identity).
    blocks : Tensor (n, 20, 3, 3)
    rhs : Tensor (n, 20, 3)

    Returns
    -------
    Tensor (n, 20, 3)
    """
    L = rhs.shape[1]
    cp, dp = [], []
    for j in range(L):
        if j == 0:
            dj = blocks[:, 0]
            r = rhs[:, 0]
        else:
            lj = lower[:, j, None, None]
            dj = blocks[:, j] - lj * cp[-1]
            r = rhs[:, j] - lower[:, j, None] * dp[-1]
        inv = _inv3(dj)
        cp.append(inv * upper[:, j, None, None] if j < L - 1 else None)
        dp.append(_mv3(inv, r))
    x = [None] * L
    x[L - 1] = dp[L - 1]
    for j in range(L - 2, -1, -1):
        x[j] = dp[j] - _mv3(cp[j], x[j + 1])
    return torch.stack(x, dim=1)


def _som_blocks(K: torch.Tensor, f: torch.Tensor, vdiag: torch.Tensor, transpose: bool):
    """3x3 SOM blocks per layer: diag(K) - A_SS diag(K) + Vdiag I; (n, 20, 3, 3)."""
    k1, k2, k3 = K[:, 4], K[:, 5], K[:, 6]
    z = torch.zeros_like(k1)
    fs1s2, fs1s3, fs2s1, fs2s3, fs3s1 = (f[:, i : i + 1] for i in (4, 5, 6, 7, 8))
    rows = [
        [k1 + vdiag, -fs2s1 * k2, -fs3s1 * k3],
        [-fs1s2 * k1, k2 + vdiag, z],
        [-fs1s3 * k1, -fs2s3 * k2, k3 + vdiag],
    ]
    m = torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)
    return m.transpose(-1, -2) if transpose else m


def solve_structured_raw(system: SteadyStateSystem, rhs: torch.Tensor) -> torch.Tensor:
    """Solve ``P x = rhs`` by the pool cascade; rhs, x (n, 7, 20). No custom gradient."""
    K, f, V = system.K, system.f, system.V
    lo, dg, up = V[:, 0], V[:, 1], V[:, 2]
    x_cwd = rhs[:, 0] / K[:, 0]
    flux_cwd = K[:, 0] * x_cwd
    r_lit = torch.stack(
        [rhs[:, 1], rhs[:, 2] + f[:, 0:1] * flux_cwd, rhs[:, 3] + (1.0 - f[:, 0:1]) * flux_cwd],
        dim=1,
    )
    x_lit = thomas(lo[:, None], K[:, 1:4] + dg[:, None], up[:, None], r_lit)  # (n, 3, 20)
    flux = K[:, 1:4] * x_lit
    r_som = torch.stack(
        [
            rhs[:, 4] + f[:, 1:2] * flux[:, 0] + f[:, 2:3] * flux[:, 1],
            rhs[:, 5] + f[:, 3:4] * flux[:, 2],
            rhs[:, 6],
        ],
        dim=-1,
    )  # (n, 20, 3)
    x_som = block_thomas(lo, _som_blocks(K, f, dg, transpose=False), up, r_som)
    return torch.cat([x_cwd[:, None], x_lit, x_som.transpose(1, 2)], dim=1)


def solve_structured_transposed(system: SteadyStateSystem, rhs: torch.Tensor) -> torch.Tensor:
    """Solve ``P^T y = rhs`` (reverse cascade: SOM, then litter, then CWD); (n, 7, 20)."""
    K, f, V = system.K, system.f, system.V
    lo, dg, up = V[:, 0], V[:, 1], V[:, 2]
    # transposed tridiagonal: lower'_j = upper_{j-1}, upper'_j = lower_{j+1}
    lo_t = torch.cat([torch.zeros_like(up[:, :1]), up[:, :-1]], dim=1)
    up_t = torch.cat([lo[:, 1:], torch.zeros_like(lo[:, :1])], dim=1)
    y_som = block_thomas(
        lo_t, _som_blocks(K, f, dg, transpose=True), up_t, rhs[:, 4:7].transpose(1, 2)
    ).transpose(1, 2)  # (n, 3, 20)
    r_lit = torch.stack(
        [
            rhs[:, 1] + f[:, 1:2] * K[:, 1] * y_som[:, 0],
            rhs[:, 2] + f[:, 2:3] * K[:, 2] * y_som[:, 0],
            rhs[:, 3] + f[:, 3:4] * K[:, 3] * y_som[:, 1],
        ],
        dim=1,
    )
    y_lit = thomas(lo_t[:, None], K[:, 1:4] + dg[:, None], up_t[:, None], r_lit)
    y_cwd = (
        rhs[:, 0] + K[:, 0] * (f[:, 0:1] * y_lit[:, 1] + (1.0 - f[:, 0:1]) * y_lit[:, 2])
    ) / K[:, 0]
    return torch.cat([y_cwd[:, None], y_lit, y_som], dim=1)


class _StructuredSolve(torch.autograd.Function):
    """``x = P(K, f, V)^-1 u`` with an implicit-function backward (transposed solve)."""

    @staticmethod
    def forward(ctx, K, f, V, u):
        system = SteadyStateSystem(K, f, V, u)
        x = solve_structured_raw(system, system.rhs())
        ctx.save_for_backward(K, f, V, u, x)
        return x

    @staticmethod
    def backward(ctx, grad_x):
        K, f, V, u, x = ctx.saved_tensors
        y = solve_structured_transposed(SteadyStateSystem(K, f, V, u), grad_x)
        needs = ctx.needs_input_grad
        with torch.enable_grad():
            Kr, fr, Vr = (t.detach().requires_grad_(n) for t, n in zip((K, f, V), needs[:3]))
            ins = [t for t, n in zip((Kr, fr, Vr), needs[:3]) if n]
            grads = [None, None, None]
            if ins:
                # dL/dtheta = -y^T (dP/dtheta) x
                px = SteadyStateSystem(Kr, fr, Vr, u).apply(x)
                g = torch.autograd.grad(px, ins, grad_outputs=-y)
                it = iter(g)
                grads = [next(it) if n else None for n in needs[:3]]
        grad_u = y[:, :4] if needs[3] else None
        return grads[0], grads[1], grads[2], grad_u


def solve_structured(system: SteadyStateSystem) -> torch.Tensor:
    """Steady state (n, 7, 20) by the structured cascade (exact implicit gradient)."""
    return _StructuredSolve.apply(system.K, system.f, system.V, system.u)


def solve_dense(system: SteadyStateSystem) -> torch.Tensor:
    """Steady state (n, 7, 20) by a dense 140x140 LU solve (reference; autograd native)."""
    P = system.to_dense()
    x = torch.linalg.solve(P, system.rhs().reshape(len(system), -1))
    return x.reshape(system.K.shape)


#: registry of steady-state solvers
SOLVERS: dict[str, Callable[[SteadyStateSystem], torch.Tensor]] = {
    "structured": solve_structured,
    "dense": solve_dense,
}


def reciprocal_condition(system: SteadyStateSystem) -> torch.Tensor:
    """Exact 1-norm reciprocal condition number of ``P`` (n,), like LAPACK's rcond.

    ``P`` is a non-singular M-matrix, so ``P^-1 >= 0`` elementwise and
    ``||P^-1||_1 = max(P^-T 1)``: one transposed structured solve.
    """
    with torch.no_grad():
        ones = torch.ones_like(system.K)
        y = solve_structured_transposed(system, ones)
        inv_norm = y.flatten(1).amax(dim=1)
        rc = 1.0 / (system.column_norm() * inv_norm)
        return torch.where(torch.isfinite(rc) & (inv_norm > 0), rc, torch.zeros_like(rc))
