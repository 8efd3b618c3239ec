"""Input encoders: covariate scaling, categorical embeddings, (lon, lat) encoding.

:class:`SiteInputs` turns raw site inputs into one feature vector per site:

- numeric covariates min-max scaled with the *training* minima/maxima (stored as buffers,
  hence in every checkpoint, so prediction scales exactly as training did), clipped to [0, 1];
  NaN (missing) becomes 0.5, the middle of the range (``scaling="minmax"``, the default);
  or (``scaling="zscore"``) clipped to the training range and then standardised with the
  training mean and standard deviation, NaN becoming 0 (the training mean);
- categorical covariates (integer codes, -1 = missing) through learned embeddings (5-dim
  by default, index 0 reserved for "missing or unseen");
- optionally (lon, lat) through :class:`LonLatEncoder`, a multi-scale sinusoidal encoding
  in three directions 120 degrees apart (in the spirit of Space2Vec's grid cells; Mai et
  al. 2020) followed by a linear layer, as in the BINN paper.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class LonLatEncoder(nn.Module):
    """Multi-scale sinusoidal encoding of (lon, lat) in degrees.

    Parameters
    ----------
    n_features : int
        Output width.
    n_scales : int
        Number of wavelengths, geometrically spaced in [min_scale_deg, max_scale_deg].

    Input (n, 2) degrees [lon, lat]; output (n, n_features).
    """

    def __init__(
        self,
        n_features: int = 128,
        n_scales: int = 16,
        min_scale_deg: float = 1.0,
        max_scale_deg: float = 360.0,
    ) -> None:
        super().__init__()
        ratio = (max_scale_deg / min_scale_deg) ** (1.0 / max(n_scales - 1, 1))
        wavelengths = torch.tensor([min_scale_deg * ratio**s for s in range(n_scales)])
        angles = torch.tensor([0.0, 2 * math.pi / 3, 4 * math.pi / 3])
        directions = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)  # (3, 2)
        # (2, 3 * n_scales) projection matrix
        freq = (2 * math.pi / wavelengths)[None, :]  # (1, S)
        proj = (directions[:, :, None] * freq[None]).permute(1, 0, 2).reshape(2, -1)
        self.register_buffer("projection", proj.to(torch.float32))
        self.linear = nn.Linear(2 * proj.shape[1], n_features)
        self.n_features = n_features

    def waves(self, lonlat: torch.Tensor) -> torch.Tensor:
        """The fixed sinusoids (n, 6 * n_scales) of (lon, lat) (n, 2) in degrees."""
        phase = lonlat.to(self.projection.dtype) @ self.projection
        return torch.cat([torch.sin(phase), torch.cos(phase)], dim=1)

    def forward(self, lonlat: torch.Tensor) -> torch.Tensor:
        return self.from_waves(self.waves(lonlat))

    def from_waves(self, waves: torch.Tensor) -> torch.Tensor:
        """The trained part: (n, 6 * n_scales) sinusoids -> (n, n_features)."""
        return torch.relu(self.linear(waves))


class SiteInputs(nn.Module):
    """Scale, embed and concatenate the inputs of one site.

    Parameters
    ----------
    numeric_min, numeric_max : Tensor (c,)
        Training minima / maxima of the numeric covariates.
    n_categories : sequence of int
        Number of classes of each categorical covariate (codes 0..n-1).
    embedding_dim : int
    lonlat : LonLatEncoder, optional
    scaling : {"minmax", "zscore"}
    numeric_mean, numeric_std : Tensor (c,), optional
        Training means / standard deviations (required for ``zscore``).
    """

    def __init__(
        self,
        numeric_min: torch.Tensor,
        numeric_max: torch.Tensor,
        n_categories: Sequence[int] = (),
        embedding_dim: int = 5,
        lonlat: LonLatEncoder | None = None,
        scaling: str = "minmax",
        numeric_mean: torch.Tensor | None = None,
        numeric_std: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if scaling not in ("minmax", "zscore"):
            raise ValueError(f"SiteInputs: scaling {scaling!r}; choose minmax or zscore")
        self.scaling = scaling
        self.register_buffer("numeric_min", torch.as_tensor(numeric_min, dtype=torch.float32))
        self.register_buffer("numeric_max", torch.as_tensor(numeric_max, dtype=torch.float32))
        if scaling == "zscore":  # buffers only then: minmax checkpoints load unchanged
            if numeric_mean is None or numeric_std is None:
                raise ValueError("SiteInputs: zscore scaling needs numeric_mean and numeric_std")
            std = torch.as_tensor(numeric_std, dtype=torch.float32)
            self.register_buffer("numeric_mean", torch.as_tensor(numeric_mean, dtype=torch.float32))
            self.register_buffer("numeric_std", torch.where(std > 0, std, torch.ones_like(std)))
        self.register_buffer("n_categories", torch.tensor(list(n_categories), dtype=torch.int64))
        self.embeddings = nn.ModuleList(nn.Embedding(k + 1, embedding_dim) for k in n_categories)
        self.lonlat = lonlat
        self.n_features = (
            int(self.numeric_min.numel())
            + embedding_dim * len(n_categories)
            + (lonlat.n_features if lonlat is not None else 0)
        )

    def scale(self, numeric: torch.Tensor) -> torch.Tensor:
        """Scale (n, c) covariates: min-max to [0, 1] (clipped; NaN -> 0.5), or with
        ``zscore`` clipped to the training range then standardised (NaN -> 0)."""
        if self.scaling == "zscore":
            x = numeric.to(torch.float32)
            x = torch.minimum(torch.maximum(x, self.numeric_min), self.numeric_max)
            return torch.nan_to_num((x - self.numeric_mean) / self.numeric_std, nan=0.0)
        span = self.numeric_max - self.numeric_min
        safe = torch.where(span > 0, span, torch.ones_like(span))
        x = ((numeric.to(torch.float32) - self.numeric_min) / safe).clamp(0.0, 1.0)
        return torch.nan_to_num(x, nan=0.5)

    def forward(
        self,
        numeric: torch.Tensor,
        categorical: torch.Tensor | None = None,
        lonlat: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.assemble(self.fixed(numeric, categorical, lonlat))

    def fixed(
        self,
        numeric: torch.Tensor,
        categorical: torch.Tensor | None = None,
        lonlat: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor | None]:
        """The parts of the features no weight changes, for :meth:`assemble`.

        A caller that evaluates the same sites many times (the full-batch polishing)
        computes them once: ``assemble(fixed(...))`` is ``forward(...)``, bit for bit.

        Returns
        -------
        scaled : Tensor (n, c)
            :meth:`scale` of the numeric covariates.
        rows : list of Tensor (n,) int64
            Each categorical covariate's embedding row (0 for a code outside 0..k-1).
        waves : Tensor (n, 6 * n_scales) or None
            :meth:`LonLatEncoder.waves` of (lon, lat), None without the encoder.
        """
        rows = []
        for j in range(len(self.embeddings)):
            codes = categorical[:, j]
            k = self.n_categories[j]
            rows.append(torch.where((codes >= 0) & (codes < k), codes + 1, torch.zeros_like(codes)))
        waves = self.lonlat.waves(lonlat) if self.lonlat is not None else None
        return self.scale(numeric), rows, waves

    def assemble(
        self, fixed: tuple[torch.Tensor, list[torch.Tensor], torch.Tensor | None]
    ) -> torch.Tensor:
        """Features (n, n_features) from :meth:`fixed`'s parts and the trained weights
        (embeddings, the lon/lat encoder's linear layer)."""
        scaled, rows, waves = fixed
        parts = [scaled]
        parts += [emb(idx) for emb, idx in zip(self.embeddings, rows)]
        if waves is not None:
            parts.append(self.lonlat.from_waves(waves))
        return torch.cat(parts, dim=1)
