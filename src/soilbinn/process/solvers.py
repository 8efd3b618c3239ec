"""Steady-state solvers for :class:`~soilbinn.process.system.SteadyStateSystem`.

``structured`` exploits the pool cascade (CWD -> litter -> SOM) and the tridiagonal
coupling across layers: a batched Thomas sweep (scalar for litter, 3x3 blocks for SOM),
O(20) work per site, no pivoting needed because ``P`` is an M-matrix. Its backward pass
solves the transposed system with the same structure (implicit-function gradient), so no
intermediate of the sweep is stored. ``dense`` assembles the 140x140 matrix and calls
``torch.linalg.solve``: the reference the structured solver is tested against.
:func:`solve_with_condition` (the steady state and the exact rcond from one factorisation)
and the structured solve's forward and backward passes run the same arithmetic as compiled C
when :mod:`soilbinn.process.native` can build it (bit-identical results).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from soilbinn.process import native
from soilbinn.process.system import SteadyStateSystem


def thomas_factor(lower: torch.Tensor, diag: torch.Tensor, upper: torch.Tensor):
    """LU factors of a batched scalar tridiagonal matrix, layer axis first.

    ``lower[..., j]`` multiplies ``x[..., j-1]`` (``lower[..., 0]`` unused) and
    ``upper[..., j]`` multiplies ``x[..., j+1]``; all arguments broadcast together.
    Returns ``(lo, inv, cp)``, each (L, ...): ``M = L U`` with ``L`` lower bidiagonal
    (diagonal ``1 / inv``, sub-diagonal ``lo``) and ``U`` unit upper bidiagonal
    (super-diagonal ``cp``). Used by :func:`thomas_solve` for ``M x = r`` and
    ``M^T y = r`` without refactorising.
    """
    shape = torch.broadcast_shapes(lower.shape, diag.shape, upper.shape)
    lo, dg, up = (t.expand(shape).movedim(-1, 0).contiguous() for t in (lower, diag, upper))
    L = shape[-1]
    inv = torch.empty_like(dg)
    cp = torch.zeros_like(dg)
    if _tracked(lo, dg, up):  # autograd through the sweep: no out= (same values)
        for j in range(L):
            inv[j] = 1.0 / (dg[0] if j == 0 else dg[j] - lo[j] * cp[j - 1])
            if j < L - 1:
                cp[j] = up[j] * inv[j]
        return lo, inv, cp
    for j in range(L):  # results written in place (out=): no temporaries to copy
        torch.reciprocal(dg[0] if j == 0 else dg[j] - lo[j] * cp[j - 1], out=inv[j])
        if j < L - 1:
            torch.mul(up[j], inv[j], out=cp[j])
    return lo, inv, cp


def _tracked(*tensors: torch.Tensor) -> bool:
    """Autograd records operations on some of ``tensors`` (``out=`` is not allowed)."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def thomas_solve(factors, rhs: torch.Tensor, transpose: bool = False) -> torch.Tensor:
    """Solve ``M x = rhs`` (or ``M^T x = rhs``) with :func:`thomas_factor`'s factors.

    rhs (..., L) broadcastable to the factors' batch shape; returns (..., L).
    """
    lo, inv, cp = factors
    L = inv.shape[0]
    r = rhs.expand(inv.shape[1:] + (L,)).movedim(-1, 0)
    x = [None] * L
    if not transpose:  # L d = r, then U x = d
        d = [r[0] * inv[0]]
        for j in range(1, L):
            d.append((r[j] - lo[j] * d[-1]) * inv[j])
        x[L - 1] = d[L - 1]
        for j in range(L - 2, -1, -1):
            x[j] = d[j] - cp[j] * x[j + 1]
    else:  # U^T z = r, then L^T x = z
        z = [r[0]]
        for j in range(1, L):
            z.append(r[j] - cp[j - 1] * z[-1])
        x[L - 1] = z[L - 1] * inv[L - 1]
        for j in range(L - 2, -1, -1):
            x[j] = (z[j] - lo[j + 1] * x[j + 1]) * inv[j]
    return torch.stack(x, dim=-1)


def thomas(lower: torch.Tensor, diag: torch.Tensor, upper: torch.Tensor, rhs: torch.Tensor):
    """Batched scalar tridiagonal solve along the last axis (see :func:`thomas_factor`)."""
    shape = torch.broadcast_shapes(lower.shape, diag.shape, upper.shape, rhs.shape)
    factors = thomas_factor(lower.expand(shape), diag.expand(shape), upper.expand(shape))
    return thomas_solve(factors, rhs)


# Packed 3x3 blocks: a block is a (9, n) tensor, entry (i, k) at row 3 i + k, so that one
# torch operation acts on all nine entries of all sites (few, large kernels).
# adjugate entry (i, k) = cofactor (k, i) = M[a] M[b] - M[c] M[d]
_ADJ_A, _ADJ_B, _ADJ_C, _ADJ_D = [], [], [], []
for _i in range(3):
    for _k in range(3):
        _r = [x for x in range(3) if x != _k]  # rows of the minor of (k, i)
        _c = [x for x in range(3) if x != _i]
        _sgn = (-1) ** (_i + _k)
        _p, _q = (_r[0] * 3 + _c[0], _r[1] * 3 + _c[1]), (_r[0] * 3 + _c[1], _r[1] * 3 + _c[0])
        if _sgn < 0:
            _p, _q = _q, _p
        _ADJ_A.append(_p[0]), _ADJ_B.append(_p[1]), _ADJ_C.append(_q[0]), _ADJ_D.append(_q[1])


_INDEX_CACHE: dict[torch.device, torch.Tensor] = {}


def _adj_index(device: torch.device) -> torch.Tensor:
    """The four cofactor operand indices, concatenated (36,): one gather for all four."""
    if device not in _INDEX_CACHE:
        _INDEX_CACHE[device] = torch.tensor(_ADJ_A + _ADJ_B + _ADJ_C + _ADJ_D, device=device)
    return _INDEX_CACHE[device]


def _inv3(b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Inverse of packed 3x3 matrices (9, n), written to ``out`` (9, n) when given.

    Rows are first scaled by their diagonal (Jacobi scaling): decomposition rates down to
    1e-170 d-1 would otherwise underflow the determinant.
    """
    n = b.shape[-1]
    s = b[0::4].reciprocal()  # 1 / diagonal (3, n)
    m = (b.view(3, 3, n) * s.unsqueeze(1)).view(9, n)
    g = m.index_select(0, _adj_index(b.device)).view(4, 9, n)
    adj = g[0] * g[1] - g[2] * g[3]
    det = (m[0:3] * adj[0::3]).sum(0)
    # (S B)^-1 S: scale column k by s_k
    if out is None:
        return (adj.view(3, 3, n) * (s / det).unsqueeze(0)).view(9, n)
    torch.mul(adj.view(3, 3, n), (s / det).unsqueeze(0), out=out.view(3, 3, n))
    return out


def _mv3(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Packed (9, n) matrices times (3, n) vectors."""
    return (m.view(3, 3, -1) * v.unsqueeze(0)).sum(1)


def block_thomas_factor(lower: torch.Tensor, blocks: torch.Tensor, upper: torch.Tensor):
    """Block LU factors of a block-tridiagonal matrix with 3x3 diagonal blocks.

    Parameters
    ----------
    lower, upper : Tensor (20, n)
        Scalar couplings to the layer above / below (times the 3x3 identity).
    blocks : Tensor (20, 9, n)
        Packed diagonal blocks (entry (i, k) at 3 i + k).

    Returns
    -------
    ``(lower, inv, cp)``: packed inverses of the eliminated diagonal blocks ``B'_j``
    (20, 9, n) and ``cp_j = B'_j^-1 upper_j`` (20, 9, n); ``M = L U`` with ``L`` block
    lower bidiagonal (``B'_j``, ``lower_j I``) and ``U`` unit upper (``cp_j``).
    """
    L = lower.shape[0]
    inv = torch.empty_like(blocks)
    cp = torch.zeros_like(blocks)
    if _tracked(lower, blocks, upper):  # autograd through the sweep: no out= (same values)
        for j in range(L):
            b = blocks[0] if j == 0 else blocks[j] - lower[j] * cp[j - 1]
            inv[j] = _inv3(b)
            if j < L - 1:
                cp[j] = inv[j] * upper[j]
        return lower, inv, cp
    for j in range(L):
        b = blocks[0] if j == 0 else blocks[j] - lower[j] * cp[j - 1]
        _inv3(b, out=inv[j])  # in place (out=): no temporaries to copy
        if j < L - 1:
            torch.mul(inv[j], upper[j], out=cp[j])
    return lower, inv, cp


def _mv3t(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Transposed packed (9, n) matrices times (3, n) vectors."""
    return (m.view(3, 3, -1) * v.unsqueeze(1)).sum(0)


def block_thomas_solve(factors, rhs: torch.Tensor, transpose: bool = False) -> torch.Tensor:
    """Solve ``M x = rhs`` (or ``M^T x = rhs``) with :func:`block_thomas_factor`'s factors.

    rhs, x: Tensor (20, 3, n).
    """
    lower, inv, cp = factors
    L = inv.shape[0]
    x = [None] * L
    if not transpose:
        d = [_mv3(inv[0], rhs[0])]
        for j in range(1, L):
            d.append(_mv3(inv[j], rhs[j] - lower[j] * d[-1]))
        x[L - 1] = d[L - 1]
        for j in range(L - 2, -1, -1):
            x[j] = d[j] - _mv3(cp[j], x[j + 1])
    else:
        z = [rhs[0]]
        for j in range(1, L):
            z.append(rhs[j] - _mv3t(cp[j - 1], z[-1]))
        x[L - 1] = _mv3t(inv[L - 1], z[L - 1])
        for j in range(L - 2, -1, -1):
            x[j] = _mv3t(inv[j], z[j] - lower[j + 1] * x[j + 1])
    return torch.stack(x)


def block_thomas(
    lower: torch.Tensor, blocks: torch.Tensor, upper: torch.Tensor, rhs: torch.Tensor
) -> torch.Tensor:
    """Block-tridiagonal solve (20, 3, n) (see :func:`block_thomas_factor`)."""
    return block_thomas_solve(block_thomas_factor(lower, blocks, upper), rhs)


def _som_blocks(K: torch.Tensor, f: torch.Tensor, vdiag: torch.Tensor, transpose: bool):
    """Packed 3x3 SOM blocks per layer, diag(K) - A_SS diag(K) + Vdiag I: (20, 9, n)."""
    k1, k2, k3 = (K[:, p].T for p in (4, 5, 6))  # (20, n)
    vd = vdiag.T
    fs1s2, fs1s3, fs2s1, fs2s3, fs3s1 = (f[:, i] for i in (4, 5, 6, 7, 8))
    z = torch.zeros_like(k1)
    rows = [
        [k1 + vd, -fs2s1 * k2, -fs3s1 * k3],
        [-fs1s2 * k1, k2 + vd, z],
        [-fs1s3 * k1, -fs2s3 * k2, k3 + vd],
    ]
    if transpose:
        rows = [[rows[k][i] for k in range(3)] for i in range(3)]
    return torch.stack([e for row in rows for e in row], dim=1)


class StructuredFactors:
    """Factors of ``P`` by the pool cascade, for solves with ``P`` and with ``P^T``.

    CWD is diagonal, the three litter pools are scalar tridiagonal in layers
    (:func:`thomas_factor`) and the SOM pools block tridiagonal with 3x3 blocks
    (:func:`block_thomas_factor`). Factorising once and solving both ``P x = u`` and
    ``P^T y = 1`` (the exact reciprocal condition number) halves the work of a checked
    forward pass.
    """

    def __init__(self, system: SteadyStateSystem) -> None:
        K, f, V = system.K, system.f, system.V
        self.K, self.f = K, f
        lo, dg, up = V[:, 0], V[:, 1], V[:, 2]
        shape = K[:, 1:4].shape
        self.litter = thomas_factor(
            lo[:, None].expand(shape), K[:, 1:4] + dg[:, None], up[:, None].expand(shape)
        )
        self.som = block_thomas_factor(
            lo.T.contiguous(), _som_blocks(K, f, dg, transpose=False), up.T.contiguous()
        )

    def solve(self, rhs: torch.Tensor) -> torch.Tensor:
        """``P x = rhs``; rhs, x (n, 7, 20)."""
        K, f = self.K, self.f
        x_cwd = rhs[:, 0] / K[:, 0]
        flux_cwd = K[:, 0] * x_cwd
        r_lit = torch.stack(
            [rhs[:, 1], rhs[:, 2] + f[:, 0:1] * flux_cwd, rhs[:, 3] + (1.0 - f[:, 0:1]) * flux_cwd],
            dim=1,
        )
        x_lit = thomas_solve(self.litter, r_lit)  # (n, 3, 20)
        flux = K[:, 1:4] * x_lit
        r_som = torch.stack(
            [
                rhs[:, 4] + f[:, 1:2] * flux[:, 0] + f[:, 2:3] * flux[:, 1],
                rhs[:, 5] + f[:, 3:4] * flux[:, 2],
                rhs[:, 6],
            ],
            dim=0,
        ).permute(2, 0, 1)  # (20, 3, n)
        x_som = block_thomas_solve(self.som, r_som).permute(2, 1, 0)  # (n, 3, 20)
        return torch.cat([x_cwd[:, None], x_lit, x_som], dim=1)

    def solve_transposed(self, rhs: torch.Tensor) -> torch.Tensor:
        """``P^T y = rhs`` (reverse cascade: SOM, then litter, then CWD); (n, 7, 20)."""
        K, f = self.K, self.f
        y_som = block_thomas_solve(self.som, rhs[:, 4:7].permute(2, 1, 0), transpose=True).permute(
            2, 1, 0
        )  # (n, 3, 20)
        r_lit = torch.stack(
            [
                rhs[:, 1] + f[:, 1:2] * K[:, 1] * y_som[:, 0],
                rhs[:, 2] + f[:, 2:3] * K[:, 2] * y_som[:, 0],
                rhs[:, 3] + f[:, 3:4] * K[:, 3] * y_som[:, 1],
            ],
            dim=1,
        )
        y_lit = thomas_solve(self.litter, r_lit, transpose=True)
        y_cwd = (
            rhs[:, 0] + K[:, 0] * (f[:, 0:1] * y_lit[:, 1] + (1.0 - f[:, 0:1]) * y_lit[:, 2])
        ) / K[:, 0]
        return torch.cat([y_cwd[:, None], y_lit, y_som], dim=1)


def solve_structured_raw(system: SteadyStateSystem, rhs: torch.Tensor) -> torch.Tensor:
    """Solve ``P x = rhs`` by the pool cascade; rhs, x (n, 7, 20). No custom gradient."""
    return StructuredFactors(system).solve(rhs)


def solve_structured_transposed(system: SteadyStateSystem, rhs: torch.Tensor) -> torch.Tensor:
    """Solve ``P^T y = rhs``; (n, 7, 20) (see :class:`StructuredFactors`)."""
    return StructuredFactors(system).solve_transposed(rhs)


class _StructuredSolve(torch.autograd.Function):
    """``x = P(K, f, V)^-1 u`` with an implicit-function backward (transposed solve).

    With ``rcond=True`` also the exact reciprocal condition number (not differentiable) from
    the same factorisation. Both passes run in the compiled kernel when it is usable
    (bit-identical to the torch path, several times faster at thousands of sites).
    """

    @staticmethod
    def forward(ctx, K, f, V, u, rcond=False):
        system = SteadyStateSystem(K, f, V, u)
        if native.usable(K, f, V, u):
            x, _, rc = native.structured_solve(K, f, V, system.rhs(), transposed=False,
                                               rcond=rcond)  # fmt: skip
        else:
            factors = StructuredFactors(system)
            x = factors.solve(system.rhs())
            rc = _rcond(system, factors.solve_transposed(torch.ones_like(K))) if rcond else None
        ctx.save_for_backward(K, f, V, u, x)
        if not rcond:
            return x
        ctx.mark_non_differentiable(rc)
        return x, rc

    @staticmethod
    def backward(ctx, grad_x, grad_rc=None):
        K, f, V, u, x = ctx.saved_tensors
        grad_x = grad_x.contiguous()
        if native.usable(K, f, V, grad_x):
            _, y, _ = native.structured_solve(K, f, V, None, rhs_t=grad_x)
        else:
            y = solve_structured_transposed(SteadyStateSystem(K, f, V, u), grad_x)
        gK, gf, gV = system_gradients(K, f, x, y)
        needs = ctx.needs_input_grad
        return (
            gK if needs[0] else None,
            gf if needs[1] else None,
            gV if needs[2] else None,
            y[:, :4] if needs[3] else None,
            None,
        )


def system_gradients(K: torch.Tensor, f: torch.Tensor, x: torch.Tensor, y: torch.Tensor):
    """Gradients of ``L`` w.r.t. K, f and V given ``P x = u`` and ``P^T y = dL/dx``.

    ``dL/dtheta = -y^T (dP/dtheta) x``, written out for the structure of ``P``.

    Returns
    -------
    gK (n, 7, 20), gf (n, 9), gV (n, 3, 20)
    """
    # y_out[p] = sum over receivers r of f_{p->r} y_r  (per layer)
    y_out = torch.zeros_like(y)
    y_out[:, 0] = f[:, 0:1] * y[:, 2] + (1.0 - f[:, 0:1]) * y[:, 3]
    y_out[:, 1] = f[:, 1:2] * y[:, 4]
    y_out[:, 2] = f[:, 2:3] * y[:, 4]
    y_out[:, 3] = f[:, 3:4] * y[:, 5]
    y_out[:, 4] = f[:, 4:5] * y[:, 5] + f[:, 5:6] * y[:, 6]
    y_out[:, 5] = f[:, 6:7] * y[:, 4] + f[:, 7:8] * y[:, 6]
    y_out[:, 6] = f[:, 8:9] * y[:, 4]
    gK = -x * (y - y_out)
    flux = K * x
    gf = torch.stack(
        [
            ((y[:, 2] - y[:, 3]) * flux[:, 0]).sum(-1),
            (y[:, 4] * flux[:, 1]).sum(-1),
            (y[:, 4] * flux[:, 2]).sum(-1),
            (y[:, 5] * flux[:, 3]).sum(-1),
            (y[:, 5] * flux[:, 4]).sum(-1),
            (y[:, 6] * flux[:, 4]).sum(-1),
            (y[:, 4] * flux[:, 5]).sum(-1),
            (y[:, 6] * flux[:, 5]).sum(-1),
            (y[:, 4] * flux[:, 6]).sum(-1),
        ],
        dim=1,
    )
    ym, xm = y[:, 1:], x[:, 1:]
    zero = torch.zeros_like(ym[:, 0, :1])
    g_lower = torch.cat([zero, -(ym[..., 1:] * xm[..., :-1]).sum(1)], dim=-1)
    g_diag = -(ym * xm).sum(1)
    g_upper = torch.cat([-(ym[..., :-1] * xm[..., 1:]).sum(1), zero], dim=-1)
    gV = torch.stack([g_lower, g_diag, g_upper], dim=1)
    return gK, gf, gV


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


def reciprocal_condition(
    system: SteadyStateSystem, factors: StructuredFactors | None = None
) -> torch.Tensor:
    """Exact 1-norm reciprocal condition number of ``P`` (n,), like LAPACK's rcond.

    ``P`` is a non-singular M-matrix, so ``P^-1 >= 0`` elementwise and
    ``||P^-1||_1 = max(P^-T 1)``: one transposed solve, reusing ``factors`` of ``P``
    when given.
    """
    with torch.no_grad():
        ones = torch.ones_like(system.K)
        f = factors if factors is not None else StructuredFactors(system)
        return _rcond(system, f.solve_transposed(ones))


def _rcond(system: SteadyStateSystem, y: torch.Tensor) -> torch.Tensor:
    """rcond from ``y = P^-T 1`` (n, 7, 20); 0 where it is not finite and positive."""
    inv_norm = y.flatten(1).amax(dim=1)
    rc = 1.0 / (system.column_norm() * inv_norm)
    return torch.where(torch.isfinite(rc) & (inv_norm > 0), rc, torch.zeros_like(rc))


def solve_with_condition(system: SteadyStateSystem) -> tuple[torch.Tensor, torch.Tensor]:
    """Steady state (n, 7, 20) and :func:`reciprocal_condition` (n,), one factorisation.

    Differentiable in the steady state (as :func:`solve_structured`) when the system
    carries gradients; the rcond never is. Uses the compiled kernel
    (:mod:`soilbinn.process.native`) when it is available, else :class:`StructuredFactors`;
    both give bit-identical results.
    """
    K, f, V, u = system.K, system.f, system.V, system.u
    if torch.is_grad_enabled() and any(t.requires_grad for t in (K, f, V, u)):
        return _StructuredSolve.apply(K, f, V, u, True)
    with torch.no_grad():
        if native.usable(K, f, V, u):
            x, _, rc = native.structured_solve(K, f, V, system.rhs(), transposed=False, rcond=True)
            return x, rc
        factors = StructuredFactors(system)
        x = factors.solve(system.rhs())
        return x, _rcond(system, factors.solve_transposed(torch.ones_like(K)))
