"""How far the GP stage's evidence fits get: the objective at every evaluation, per fit.

Reruns the GP stage of a finished acceptance run (as ``benchmarks/gp_stage_rerun.py``,
same arguments) with the L-BFGS of each evidence fit (``train.gp_prior.hyper_steps``)
recording the objective (the negative Laplace log evidence on the evidence's sites, plus
the length-scale tie) at each evaluation, line-search trials included, and the
hyperparameters at the end. Prints, per fit, the number of evaluations, the objective at
the first and last, every fifth as a difference from the first, and the largest log
length scale and the sum's weight logits; writes everything to ``NEW_RUN.trace.pt``.

Used for stop 61 of ``docs/recovery_ablation.md``: from fresh hyperparameters the first
round's fit is far from converged after 20 iterations, and most later evaluations move the
length scales of irrelevant features and the sum's weights towards infinity.

Usage::

    python benchmarks/evidence_fit_trace.py RUN T.nc NEW_RUN --set train.gp_prior.hyper_steps=200 \\
        --set train.gp_prior.rounds=1
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gp_stage_rerun  # noqa: E402

_LBFGS = torch.optim.LBFGS


class _TracedLBFGS(_LBFGS):
    """L-BFGS that records the objective at each closure call (one per evaluation)."""

    fits: list[dict] = []
    path: str | None = None

    def step(self, closure):  # noqa: D102
        values: list[float] = []

        def traced():
            value = closure()
            values.append(float(value))
            return value

        out = super().step(traced)
        hyper = [p.detach().clone() for p in self.param_groups[0]["params"]]
        _TracedLBFGS.fits.append({"objective": values, "hyperparameters": hyper})
        if _TracedLBFGS.path is not None:
            torch.save(_TracedLBFGS.fits, _TracedLBFGS.path)
        log_ls = hyper[0]
        every5 = [round(v - values[0], 2) for v in values[::5]]
        # a sum of two kernels has an odd width: 2d log length scales, then the weight logit
        summed = log_ls.shape[-1] % 2 == 1 and log_ls.shape[-1] > 1
        scales = log_ls[..., :-1] if summed else log_ls
        weights = f"; weight logits {log_ls[..., -1].tolist()}" if summed else ""
        print(f"fit {len(_TracedLBFGS.fits)}: {len(values)} evaluations, objective "
              f"{values[0]:.2f} -> {values[-1]:.2f}; every fifth minus the first {every5}; "
              f"largest log length scale {float(scales.max()):.2f}{weights}", flush=True)  # fmt: skip
        return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 3:
        print(__doc__)
        return 2
    _TracedLBFGS.fits = []
    _TracedLBFGS.path = argv[2].rstrip("/") + ".trace.pt"
    torch.optim.LBFGS = _TracedLBFGS
    try:
        return gp_stage_rerun.main(argv)
    finally:
        torch.optim.LBFGS = _LBFGS


if __name__ == "__main__":
    sys.exit(main())
