"""The six bulk processes of Tao et al. (2023) and residence times.

Definitions (process_model.md): with ``xi_j = mean_t(xit) mean_t(xiw) d_j`` and SOC weights
``w_j = SOC_j dz_j / sum(SOC dz)``:

1. carbon_input: total litter input (g m-2 yr-1).
2. cue: carbon transfer efficiency, ``sum_i f_i F_i / sum_donors F`` with
   ``F = sum_j C_j (1/tau) xi_j dz_j`` over the donors L1, L2, L3, S1, S2, S3.
3. baseline_decomposition: stock-weighted ``sum_S (1/tau_S) S / sum S`` (yr-1), stocks in
   g m-2 (the BINN code weights by summed concentrations, a bug not reproduced here).
4. environmental_modifier: ``sum_j xi_j w_j`` (1).
5. vertical_transport: ``sum_j 365 V[j, j] w_j`` (yr-1), V month-averaged.
6. input_allocation: ``proda`` is PRODA's ``mean_j exp(ln(1 - cumsum(v)_j) / (100 zsoi_j))``
   over the layers where ``1 - cumsum(v) > 0`` (as its code effectively does; the value is
   dominated by summation round-off in deep layers and biased low because the remaining
   fraction below layer j is ``beta^(100 zbot_j)``, not ``beta^(100 zsoi_j)``). ``robust``
   (default) uses the lower interface depth ``zbot_j`` and drops layers where
   ``1 - cumsum(v) < 1e-9``: it returns beta exactly for a beta profile.

residence_time is SOC stock per unit input (yr); residence_time_baseline the same with
decomposition at the baseline rates ``1/tau`` (no temperature, water, oxygen, nitrogen or
depth scalars), keeping transport and the input profile.
"""

from __future__ import annotations

import torch

from soilbinn.process import grid, rates
from soilbinn.process.solvers import SOLVERS
from soilbinn.process.system import SteadyStateSystem

#: threshold of the robust input-allocation index
ROBUST_CUMSUM_TOL = 1e-9


def input_allocation_index(v: torch.Tensor, method: str = "robust") -> torch.Tensor:
    """Input-allocation index from the layer input fractions v (n, 20) -> (n,).

    NaN where no layer qualifies (all input in layer 1).
    """
    depth = grid.as_tensor(grid.ZSOI if method == "proda" else grid.ZISOI, v.device, v.dtype)
    # sequential cumulative sum, as MATLAB's sum over short vectors
    rem, acc = [], torch.zeros_like(v[:, 0])
    for j in range(v.shape[1]):
        acc = acc + v[:, j]
        rem.append(1.0 - acc)
    rem = torch.stack(rem, dim=1)
    tol = {"robust": ROBUST_CUMSUM_TOL, "proda": 0.0}[method]
    ok = rem > tol
    val = torch.exp(torch.log(torch.where(ok, rem, torch.ones_like(rem))) / (100.0 * depth))
    cnt = ok.sum(dim=1)
    s = torch.where(ok, val, torch.zeros_like(val)).sum(dim=1)
    return torch.where(cnt > 0, s / cnt.clamp(min=1), torch.full_like(s, float("nan")))


def nonfinite_processes(proc: dict[str, torch.Tensor]) -> torch.Tensor:
    """(n,) bool: some process of the site is not finite.

    ``input_allocation`` is NaN by definition where all input goes to layer 1 (see
    :func:`input_allocation_index`); that alone is not counted.
    """
    bad = None
    for name in PROCESS_ATTRS:
        if name in proc and name != "input_allocation":
            b = ~torch.isfinite(proc[name])
            bad = b if bad is None else bad | b
    if "input_allocation" in proc:
        b = torch.isinf(proc["input_allocation"])
        bad = b if bad is None else bad | b
    return bad


def bulk_processes(model, p_unit, prepared, pools: torch.Tensor, input_allocation="robust"):
    """Six bulk processes and residence times for n sites.

    Parameters
    ----------
    model : CLM5Model
    p_unit : Tensor (n, n_params)
    prepared : PreparedForcing
    pools : Tensor (n, 7, 20), g m-3
    input_allocation : {"robust", "proda"}

    Returns
    -------
    dict of Tensor (n,)
    """
    P = model.physical(p_unit)
    fo = prepared.forcing
    dz = grid.as_tensor(grid.DZ, pools.device, pools.dtype)
    xit = rates.temperature_scalar(P["q10"], fo.soil_temperature).mean(-1)
    xiw = rates.water_scalar(P["w_scaling"], fo.water_scalar).mean(-1)
    xi = xit * xiw * rates.depth_scalar(P["efolding"])  # (n, 20)
    soc = pools[:, 4:7].sum(1)
    soc_dz = soc * dz
    # the weights and ratios below do not depend on the pools' scale: compute them on
    # pools scaled to a maximum of 1 so that huge (flagged) states do not overflow to NaN
    scale = pools.detach().abs().flatten(1).amax(1).clamp_min(1e-300)[:, None, None]
    pools = pools / scale
    w_dz = pools[:, 4:7].sum(1) * dz
    w = w_dz / w_dz.sum(1, keepdim=True)
    tau = {
        1: P["taul1"], 2: P["taul2"], 3: P["taul2"], 4: P["tau4s1"], 5: P["tau4s2"],
        6: P["tau4s3"],
    }  # fmt: skip
    F = {d: (pools[:, d] / tau[d][:, None] * xi * dz).sum(1) for d in tau}
    donors = {
        "fl1s1": 1, "fl2s1": 2, "fl3s2": 3, "fs1s2": 4, "fs1s3": 4, "fs2s1": 5, "fs2s3": 5,
        "fs3s1": 6,
    }  # fmt: skip
    num = sum(P[name] * F[d] for name, d in donors.items())
    cue = num / sum(F.values())
    stock = pools[:, 4:7] * dz
    S = stock.sum(-1)  # (n, 3)
    taus_s = torch.stack([P["tau4s1"], P["tau4s2"], P["tau4s3"]], dim=1)
    k_base = (S / taus_s).sum(1) / S.sum(1)
    system = model.assemble(p_unit, prepared)
    vt = (grid.DAYS_PER_YEAR * system.V[:, 1] * w).sum(1)
    prof = rates.input_profile(P["beta"], fo.altmax_lastyear, model.input_rule)
    total_input = fo.litter_input.sum(1)
    # baseline: decomposition at 1/tau only
    taus = rates.turnover_times(P)
    k0 = (1.0 / (grid.DAYS_PER_YEAR * torch.clamp(taus, min=rates.TAU_FLOOR)))[:, :, None]
    base = SteadyStateSystem(
        K=k0.expand_as(system.K).contiguous(), f=system.f, V=system.V, u=system.u
    )
    base_pools = SOLVERS[model.solver](base)
    base_soc = (base_pools[:, 4:7].sum(1) * dz).sum(1)
    return {
        "carbon_input": total_input,
        "cue": cue,
        "baseline_decomposition": k_base,
        "environmental_modifier": (xi * w).sum(1),
        "vertical_transport": vt,
        "input_allocation": input_allocation_index(prof, input_allocation),
        "residence_time": soc_dz.sum(1) / total_input,
        "residence_time_baseline": base_soc / total_input,
    }


#: units and long names of the process outputs
PROCESS_ATTRS: dict[str, tuple[str, str]] = {
    "carbon_input": ("g m-2 yr-1", "total litter carbon input"),
    "cue": ("1", "carbon use (transfer) efficiency"),
    "baseline_decomposition": ("yr-1", "SOC-stock-weighted baseline decomposition rate"),
    "environmental_modifier": ("1", "SOC-weighted environmental modifier of decomposition"),
    "vertical_transport": ("yr-1", "SOC-weighted vertical transport rate"),
    "input_allocation": ("1", "input allocation index (beta-like shape of the input profile)"),
    "residence_time": ("yr", "SOC residence time (stock per unit input)"),
    "residence_time_baseline": ("yr", "SOC residence time at baseline decomposition rates"),
}
