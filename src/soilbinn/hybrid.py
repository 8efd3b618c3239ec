"""BINN = parameter network + process model (Xu et al. 2025), and the pure-NN wrapper.

The parameter network (float32) predicts the *learned* parameters on the unit scale; the
other parameters are fixed, either to one value for all sites (``fixed``) or per site from
a dataset variable (``site_fixed``, e.g. ``true_params`` in a synthetic recovery
experiment). The full 21-vector goes, in float64, through the process model, which knows
nothing about networks.

Both models take a :class:`soilbinn.training.sitedata.SiteData` batch and return a dict with
at least ``soc_layer`` (n, 20) float64 g m-3; BINN adds ``params`` (n, 21) unit scale,
``learned`` (n, n_learned), the process-model outputs and ``nonfinite`` (n,) bool marking
sites whose network output was not finite (those rows are replaced by 0.5 before the
process model so one bad site cannot crash the batch; the trainer skips such batches).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from soilbinn.nn.baseline import SOCNet
from soilbinn.nn.param_net import ParamNet


class BINN(nn.Module):
    """Hybrid model: ``params = assemble(param_net(x), fixed)``; ``out = process(params)``.

    Parameters
    ----------
    param_net : ParamNet
        Outputs ``len(learned)`` values in (0, 1).
    process_model : torch.nn.Module
        ``CLM5Model``-like: ``.space`` (names, n) and ``forward(p_unit, forcing) -> dict``.
    learned : sequence of str
        Names of the learned parameters (model order is taken from ``process_model.space``).
    fixed : dict of str to float, optional
        Unit-scale value of fixed parameters (same for every site).
    site_fixed : sequence of str, optional
        Fixed parameters whose value comes per site from ``batch.fixed_params``.
    """

    def __init__(
        self,
        param_net: ParamNet,
        process_model: nn.Module,
        learned: Sequence[str],
        fixed: dict[str, float] | None = None,
        site_fixed: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.param_net = param_net
        self.process_model = process_model
        names = list(process_model.space.names)
        self.param_names = tuple(names)
        fixed = dict(fixed or {})
        unknown = (set(learned) | set(fixed) | set(site_fixed)) - set(names)
        if unknown:
            raise ValueError(f"BINN: unknown parameter name(s) {sorted(unknown)}; known: {names}")
        overlap = set(learned) & (set(fixed) | set(site_fixed))
        if overlap:
            raise ValueError(f"BINN: parameter(s) {sorted(overlap)} both learned and fixed")
        missing = set(names) - set(learned) - set(fixed) - set(site_fixed)
        if missing:
            raise ValueError(
                f"BINN: parameter(s) {sorted(missing)} are neither learned nor fixed; set "
                "model.learned, model.fixed or model.fixed_from"
            )
        self.learned_names = tuple(n for n in names if n in set(learned))
        values = torch.full((len(names),), 0.5, dtype=torch.float64)
        for k, v in fixed.items():
            values[names.index(k)] = float(v)
        site_mask = torch.tensor([n in set(site_fixed) and n not in fixed for n in names])
        self.register_buffer("fixed_values", values)
        self.register_buffer("site_mask", site_mask)
        self.register_buffer(
            "learned_index", torch.tensor([names.index(n) for n in self.learned_names])
        )

    def assemble(self, learned: torch.Tensor, site_values: torch.Tensor | None) -> torch.Tensor:
        """Full (n, n_params) float64 unit-scale parameters."""
        n = learned.shape[0]
        full = self.fixed_values.expand(n, -1).clone()
        if bool(self.site_mask.any()):
            if site_values is None:
                raise ValueError("BINN: per-site fixed parameters needed but not given")
            full = torch.where(self.site_mask, site_values.to(full.dtype), full)
        full[:, self.learned_index] = learned.to(torch.float64)
        return full

    def forward(self, batch) -> dict[str, torch.Tensor]:
        learned = self.param_net(batch.numeric, batch.categorical, batch.lonlat)
        nonfinite = ~torch.isfinite(learned).all(dim=1)
        if bool(nonfinite.any()):
            learned = torch.where(nonfinite[:, None], torch.full_like(learned, 0.5), learned)
        params = self.assemble(learned, batch.fixed_params)
        if params.shape[0] == 0:  # a DDP rank may hold no site of a batch
            soc = params.new_zeros((0, 20)) + params.sum()
            return {"soc_layer": soc, "params": params, "learned": learned,
                    "nonfinite": nonfinite}  # fmt: skip
        out = dict(self.process_model(params, batch.forcing))
        out["params"] = params
        out["learned"] = learned
        out["nonfinite"] = nonfinite | ~torch.isfinite(out["soc_layer"]).all(dim=1)
        return out

    def processes(self, batch, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The six bulk processes (and residence times) of the predicted parameters."""
        return self.process_model.processes(out["params"], batch.forcing, out=out)


class PureNN(nn.Module):
    """The pure-NN baseline behind the same interface as :class:`BINN`."""

    def __init__(self, soc_net: SOCNet) -> None:
        super().__init__()
        self.soc_net = soc_net

    def forward(self, batch) -> dict[str, torch.Tensor]:
        soc = self.soc_net(batch.numeric, batch.categorical, batch.lonlat).to(torch.float64)
        return {"soc_layer": soc, "nonfinite": ~torch.isfinite(soc).all(dim=1)}
