"""The CLM5 vertically resolved soil carbon matrix model as a differentiable torch module.

``CLM5Model`` maps unit-scale parameters (n, 21) and :class:`Forcing` for n sites to the
steady-state carbon pools (7 pools x 20 layers), SOC by layer and stocks. It knows
nothing of networks or training. Model equations: process_model.md; CLM5 (Koven et al.
2013, Lawrence et al. 2019) in matrix form (Lu et al. 2020) as in PRODA (Tao et al. 2023)
and BINN (Xu et al. 2025).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from soilbinn.process import grid, rates, transport
from soilbinn.process.forcing import Forcing
from soilbinn.process.parameters import ParameterSpace
from soilbinn.process.solvers import SOLVERS, reciprocal_condition, solve_with_condition
from soilbinn.process.system import TRANSFERS, SteadyStateSystem


class ParameterError(ValueError):
    """Parameters of the wrong shape, non-finite or outside [0, 1] (names the sites)."""


#: transport schemes: name -> number of transport parameters replacing diffus/cryo
TRANSPORTS: dict[str, int] = {"clm5": 2, "simple": 2, "simple2": 3}

#: reciprocal condition below which a site's steady state is flagged as unreliable
RCOND_THRESHOLD = float(torch.finfo(torch.float64).eps)

#: carbon stock of all pools over the whole column (0-8.6 m) above which a steady state is
#: implausible, g m-2 (1,000 kg m-2). No real soil reaches it: the densest soil material, peat, holds at
#: most about 100 kg C m-3 (bulk density <= 0.2 g cm-3 x <= 55 % carbon; typical peat
#: 30-60 kg C m-3), so even 8.6 m of dense peat stays below ~900 kg m-2, and the deepest
#: peatlands store a few hundred kg m-2; mineral soils hold tens of kg m-2.
IMPLAUSIBLE_STOCK = 1.0e6

#: negative pool values below this fraction of the site's largest pool are not round-off
NEGATIVE_TOLERANCE = 1e-8


@dataclass
class PreparedForcing:
    """Forcing plus the parameter-independent transport operators (reuse across calls)."""

    forcing: Forcing
    basis: transport.TransportBasis | None

    def __len__(self) -> int:
        return len(self.forcing)

    def select(self, index) -> PreparedForcing:
        b = self.basis.select(index) if self.basis is not None else None
        return PreparedForcing(self.forcing.select(index), b)


class CLM5Model(torch.nn.Module):
    """Steady-state CLM5 soil carbon model, batched over sites, in float64.

    Parameters
    ----------
    preset : {"proda2023", "binn2025"}
        Parameter range preset (ignored when ``space`` is given).
    transport : {"clm5", "simple", "simple2"}
        Vertical transport: CLM5 bio/cryoturbation, or BINN's power law of depth with one
        (``simple``) or separate upward/downward intercepts (``simple2``).
    solver : {"structured", "dense"}
        Steady-state solver (see :mod:`soilbinn.process.solvers`).
    space : ParameterSpace, optional
        Custom parameter ranges.
    bedrock : {"proda", "conservative"}
        Bottom treatment of CLM5 transport below bedrock (see :mod:`transport`).
    input_rule : {"proda", "beta"}
        ``proda`` puts all input in layer 1 unless altmax_lastyear > 0 in every month.
    clip_negative : bool
        Clip negative pool values to 0 as PRODA does. Negative values come from round-off,
        and, without clipping, from ill-conditioned systems (flagged ``implausible``).
    chunk_size : int
        Sites per solve; bounds memory for any batch size.
    check_conditioning : bool
        Compute the exact reciprocal condition number and flag ill-conditioned sites.
    """

    def __init__(
        self,
        preset: str = "binn2025",
        transport: str = "clm5",
        solver: str = "structured",
        space: ParameterSpace | None = None,
        bedrock: str = "proda",
        input_rule: str = "proda",
        clip_negative: bool = True,
        chunk_size: int = 32768,
        check_conditioning: bool = True,
    ) -> None:
        super().__init__()
        if transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {transport!r}; choose from {sorted(TRANSPORTS)}")
        if solver not in SOLVERS:
            raise ValueError(f"unknown solver {solver!r}; choose from {sorted(SOLVERS)}")
        if bedrock not in ("proda", "conservative"):
            raise ValueError(f"unknown bedrock treatment {bedrock!r}")
        if input_rule not in ("proda", "beta"):
            raise ValueError(f"unknown input rule {input_rule!r}")
        self.space = space or ParameterSpace.from_preset(preset, transport)
        self.transport = transport
        self.solver = solver
        self.bedrock = bedrock
        self.input_rule = input_rule
        self.clip_negative = clip_negative
        self.chunk_size = int(chunk_size)
        self.check_conditioning = check_conditioning
        #: smooth relaxation of min(W w_scaling, 1) during training only (None: exact)
        self.water_sharpness: float | None = None

    # ------------------------------------------------------------------ inputs
    def prepare(self, forcing: Forcing | PreparedForcing, validate: bool = True) -> PreparedForcing:
        """Validate forcing, cast to float64 and precompute the transport basis."""
        if isinstance(forcing, PreparedForcing):
            return forcing
        if validate:
            forcing.validate()
        forcing = forcing.to(forcing.device)
        basis = None
        if self.transport == "clm5":
            basis = transport.clm5_basis(
                forcing.altmax, forcing.altmax_lastyear, forcing.nbedrock, self.bedrock
            )
        return PreparedForcing(forcing, basis)

    def check_parameters(self, p_unit: torch.Tensor, site_ids=None) -> None:
        """Raise :class:`ParameterError` for wrong shape, non-finite or out-of-[0,1] values."""
        if p_unit.ndim != 2 or p_unit.shape[1] != self.space.n:
            raise ParameterError(
                f"parameters must have shape (n_sites, {self.space.n}) "
                f"({', '.join(self.space.names)}); got {tuple(p_unit.shape)}"
            )
        with torch.no_grad():
            bad = ~torch.isfinite(p_unit) | (p_unit < 0) | (p_unit > 1)
            if bool(bad.any()):
                rows, cols = torch.nonzero(bad, as_tuple=True)
                msgs = []
                for r, c in list(zip(rows.tolist(), cols.tolist()))[:10]:
                    site = site_ids[r] if site_ids is not None else f"#{r}"
                    msgs.append(f"site {site}: {self.space.names[c]}={float(p_unit[r, c]):.6g}")
                more = f" (+{len(rows) - 10} more)" if len(rows) > 10 else ""
                raise ParameterError(
                    "unit-scale parameters must be finite and within [0, 1]: "
                    + "; ".join(msgs)
                    + more
                )

    # ------------------------------------------------------------------ physics
    def physical(self, p_unit: torch.Tensor) -> dict[str, torch.Tensor]:
        """Physical parameter values by name, each (n,)."""
        return self.space.as_dict(self.space.to_physical(p_unit.to(torch.float64)))

    def assemble(self, p_unit: torch.Tensor, prepared: PreparedForcing) -> SteadyStateSystem:
        """Build the steady-state system for n sites (no validation)."""
        P = self.physical(p_unit)
        fo = prepared.forcing
        K = rates.decomposition_rates(
            rates.turnover_times(P),
            P["q10"],
            P["efolding"],
            P["w_scaling"],
            fo.soil_temperature,
            fo.water_scalar,
            fo.oxygen_scalar,
            fo.nitrogen_scalar,
            self.water_sharpness,
        )
        f = torch.stack([P[name] for name in TRANSFERS], dim=1)
        if self.transport == "clm5":
            V = transport.clm5_operator(prepared.basis, P["diffus"], P["cryo"])
        else:
            V = transport.simple_operator(
                P["transport_slope"],
                P["transport_intercept"],
                fo.nbedrock,
                P.get("leaching_intercept"),
            )
        v = rates.input_profile(P["beta"], fo.altmax_lastyear, self.input_rule)
        u = rates.litter_input_rates(fo.litter_input, v)
        return SteadyStateSystem(K=K, f=f, V=V, u=u)

    def _solve_chunk(self, p_unit: torch.Tensor, prepared: PreparedForcing) -> dict:
        system = self.assemble(p_unit, prepared)
        rc = None
        if self.check_conditioning and self.solver == "structured":
            pools, rc = solve_with_condition(system)  # one factorisation for solve and rcond
        else:
            pools = SOLVERS[self.solver](system)
        if self.clip_negative:
            pools = torch.clamp(pools, min=0.0)
        out = {"pools": pools}
        if self.check_conditioning:
            if rc is None:
                rc = reciprocal_condition(system)
            out["rcond"] = rc
            finite = torch.isfinite(pools).flatten(1).all(dim=1)
            out["ill_conditioned"] = (rc < RCOND_THRESHOLD) | ~finite
        return out

    def forward(
        self, p_unit: torch.Tensor, forcing: Forcing | PreparedForcing
    ) -> dict[str, torch.Tensor]:
        """Steady state for n sites.

        Parameters
        ----------
        p_unit : Tensor (n, n_params)
            Unit-scale parameters in [0, 1] (any float dtype; computed in float64).
        forcing : Forcing or PreparedForcing
            n sites.

        Returns
        -------
        dict of Tensor (float64)
            ``pools`` (n, 7, 20) g m-3; ``soc_layer`` (n, 20) g m-3 (S1 + S2 + S3);
            ``soc_stock`` (n,) g m-2 over 0-8.6 m; ``soc_stock_0_30cm``,
            ``soc_stock_0_100cm`` (n,) g m-2; ``implausible`` (n,) bool (see
            :func:`implausible_state`); ``rcond`` (n,) and ``ill_conditioned`` (n,) bool
            when ``check_conditioning``.
        """
        out = self.steady_state(p_unit, forcing)
        out.update(stocks(out["pools"]))
        out["implausible"] = implausible_state(out["pools"], out["soc_stock"])
        return out

    def steady_state(
        self, p_unit: torch.Tensor, forcing: Forcing | PreparedForcing
    ) -> dict[str, torch.Tensor]:
        """The steady state only: ``pools`` (and ``rcond``, ``ill_conditioned`` when
        ``check_conditioning``), without the stocks and flags of :meth:`forward`.

        For callers that evaluate the model many times and need only the pools (PRODA's
        sampler); same values as :meth:`forward`'s.
        """
        prepared = self.prepare(forcing)
        n = len(prepared)
        if p_unit.shape[0] != n:
            raise ParameterError(
                f"parameters have {p_unit.shape[0]} rows but the forcing has {n} sites"
            )
        self.check_parameters(p_unit, prepared.forcing.site_ids)
        p64 = p_unit.to(device=prepared.forcing.device, dtype=torch.float64)
        if n <= self.chunk_size:
            return self._solve_chunk(p64, prepared)
        parts = []
        for start in range(0, n, self.chunk_size):
            sl = slice(start, min(start + self.chunk_size, n))
            parts.append(self._solve_chunk(p64[sl], prepared.select(sl)))
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    def processes(
        self,
        p_unit: torch.Tensor,
        forcing: Forcing | PreparedForcing,
        out: dict[str, torch.Tensor] | None = None,
        input_allocation: str = "robust",
    ) -> dict[str, torch.Tensor]:
        """The six bulk processes and residence times (see :mod:`diagnostics`).

        Returns a dict of (n,) tensors: the processes of
        :data:`~soilbinn.process.diagnostics.PROCESS_ATTRS` and ``implausible`` (bool), the
        state's flag (:func:`implausible_state`) or-ed with "some process is not finite",
        except ``input_allocation``'s documented NaN (all input in layer 1). So every
        non-finite diagnostic is flagged.
        """
        from soilbinn.process.diagnostics import bulk_processes, nonfinite_processes

        prepared = self.prepare(forcing)
        if out is None:
            out = self.forward(p_unit, prepared)
        proc = bulk_processes(self, p_unit, prepared, out["pools"], input_allocation)
        state = out.get("implausible")
        if state is None:
            state = implausible_state(out["pools"], stocks(out["pools"])["soc_stock"])
        proc["implausible"] = state | nonfinite_processes(proc)
        return proc


def implausible_state(pools: torch.Tensor, soc_stock: torch.Tensor) -> torch.Tensor:
    """Flag steady states that no real soil has, (n,) bool.

    A site is flagged when any pool is not finite, its 0-8.6 m carbon stock (SOC plus
    litter and coarse woody debris) exceeds :data:`IMPLAUSIBLE_STOCK` (1,000 kg m-2), or
    a pool is negative beyond round-off
    (below ``-NEGATIVE_TOLERANCE`` times the site's largest pool; only possible with
    ``clip_negative=False``).

    Parameters
    ----------
    pools : Tensor (n, 7, 20), g m-3
    soc_stock : Tensor (n,), g m-2
    """
    with torch.no_grad():
        flat = pools.flatten(1)
        finite = torch.isfinite(flat).all(dim=1) & torch.isfinite(soc_stock)
        scale = torch.nan_to_num(flat.abs(), posinf=0.0).amax(dim=1)
        negative = torch.nan_to_num(flat).amin(dim=1) < -NEGATIVE_TOLERANCE * scale
        dz = grid.as_tensor(grid.DZ, pools.device, pools.dtype)
        total = (pools.sum(dim=1) * dz).sum(dim=1)
        return ~finite | (soc_stock > IMPLAUSIBLE_STOCK) | (total > IMPLAUSIBLE_STOCK) | negative


def stocks(pools: torch.Tensor) -> dict[str, torch.Tensor]:
    """SOC by layer and stocks from pools (n, 7, 20) g m-3."""
    soc = pools[:, 4:7].sum(dim=1)
    dz = grid.as_tensor(grid.DZ, pools.device, pools.dtype)
    w30 = grid.depth_bin_stock_weights(0.0, 0.3).to(pools.device, pools.dtype)
    w100 = grid.depth_bin_stock_weights(0.0, 1.0).to(pools.device, pools.dtype)
    return {
        "soc_layer": soc,
        "soc_stock": (soc * dz).sum(dim=1),
        "soc_stock_0_30cm": (soc * w30).sum(dim=1),
        "soc_stock_0_100cm": (soc * w100).sum(dim=1),
    }
