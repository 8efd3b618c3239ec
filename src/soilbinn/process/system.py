"""The steady-state linear system of the CLM5 matrix model and its structure.

With pools ordered (CWD, L1, L2, L3, S1, S2, S3) and layers 1-20, the steady state of
``dx/dt = A K x - V x + u`` solves ``P x = u`` with ``P = -A K + V`` (a non-singular
M-matrix: positive diagonal, non-positive off-diagonals). ``P`` is block-triangular by
pool: CWD is diagonal; L1, L2, L3 are tridiagonal in layers and fed by CWD; S1-S3 are
coupled within a layer (3x3 blocks) and tridiagonal across layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from soilbinn.process.grid import N_LAYERS, N_POOLS

#: index of each transfer fraction in ``SteadyStateSystem.f`` and its (receiver, donor)
TRANSFERS: dict[str, tuple[int, int, int]] = {
    "fcwdl2": (0, 2, 0),
    "fl1s1": (1, 4, 1),
    "fl2s1": (2, 4, 2),
    "fl3s2": (3, 5, 3),
    "fs1s2": (4, 5, 4),
    "fs1s3": (5, 6, 4),
    "fs2s1": (6, 4, 5),
    "fs2s3": (7, 6, 5),
    "fs3s1": (8, 4, 6),
}


@dataclass
class SteadyStateSystem:
    """Coefficients of ``P x = u`` for ``n`` sites (all float64).

    Attributes
    ----------
    K : Tensor (n, 7, 20), d-1
        Decomposition rates.
    f : Tensor (n, 9), 1
        Transfer fractions in :data:`TRANSFERS` order (CWD -> L3 gets ``1 - fcwdl2``).
    V : Tensor (n, 3, 20), d-1
        Transport operator diagonals (lower, main, upper) for the six non-CWD pools.
    u : Tensor (n, 4, 20), g m-3 d-1
        Inputs to the four litter pools.
    """

    K: torch.Tensor
    f: torch.Tensor
    V: torch.Tensor
    u: torch.Tensor

    def __len__(self) -> int:
        return int(self.K.shape[0])

    def transfer_matrix(self) -> torch.Tensor:
        """``A`` (n, 7, 7): receiver x donor fractions, diagonal -1."""
        n = len(self)
        a = torch.zeros(n, N_POOLS, N_POOLS, dtype=self.K.dtype, device=self.K.device)
        idx = torch.arange(N_POOLS)
        a[:, idx, idx] = -1.0
        for i, r, d in TRANSFERS.values():
            a[:, r, d] = self.f[:, i]
        a[:, 3, 0] = 1.0 - self.f[:, 0]
        return a

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """``P x`` for x (n, 7, 20), using only the structure (differentiable)."""
        K, f, V = self.K, self.f, self.V
        flux = K * x  # decomposition flux per pool (n, 7, 20)
        out = flux.clone()
        for i, r, d in TRANSFERS.values():
            out[:, r] = out[:, r] - f[:, i : i + 1] * flux[:, d]
        out[:, 3] = out[:, 3] - (1.0 - f[:, 0:1]) * flux[:, 0]
        xm = x[:, 1:]
        vx = V[:, None, 1] * xm
        vx[..., 1:] = vx[..., 1:] + V[:, None, 0, 1:] * xm[..., :-1]
        vx[..., :-1] = vx[..., :-1] + V[:, None, 2, :-1] * xm[..., 1:]
        out = torch.cat([out[:, :1], out[:, 1:] + vx], dim=1)
        return out

    def rhs(self) -> torch.Tensor:
        """Right-hand side ``u`` as (n, 7, 20) (SOM pools get no direct input)."""
        zeros = torch.zeros_like(self.u[:, :3])
        return torch.cat([self.u, zeros], dim=1)

    def to_dense(self) -> torch.Tensor:
        """``P`` as a dense (n, 140, 140) matrix, pool-major (index = pool*20 + layer)."""
        n, L = len(self), N_LAYERS
        A = self.transfer_matrix()
        P = (
            -(A[:, :, None, :, None] * self.K[:, None, None, :, :])
            * torch.eye(L, dtype=self.K.dtype, device=self.K.device)[None, None, :, None, :]
        )
        # P[n, r, j, d, l] = -A[r,d] K[d,l] delta_jl
        tri = torch.diag_embed(self.V[:, 1])
        tri = tri + torch.diag_embed(self.V[:, 0, 1:], offset=-1)
        tri = tri + torch.diag_embed(self.V[:, 2, :-1], offset=1)
        for p in range(1, N_POOLS):
            P[:, p, :, p, :] = P[:, p, :, p, :] + tri
        return P.reshape(n, N_POOLS * L, N_POOLS * L)

    def column_norm(self) -> torch.Tensor:
        """``||P||_1`` (max absolute column sum), (n,)."""
        K, f, V = self.K, self.f, self.V
        col = K.clone()  # diagonal
        out_frac = torch.zeros_like(K[:, :, 0])
        for i, _r, d in TRANSFERS.values():
            out_frac[:, d] = out_frac[:, d] + f[:, i]
        out_frac[:, 0] = 1.0  # CWD passes everything on (fcwdl2 + (1 - fcwdl2))
        col = col * (1.0 + out_frac[:, :, None])
        vcol = V[:, 1].abs().clone()
        vcol[:, :-1] = vcol[:, :-1] + V[:, 0, 1:].abs()
        vcol[:, 1:] = vcol[:, 1:] + V[:, 2, :-1].abs()
        col = torch.cat([col[:, :1], col[:, 1:] + vcol[:, None]], dim=1)
        return col.flatten(1).amax(dim=1)
