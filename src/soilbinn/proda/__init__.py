"""PRODA baseline: per-site adaptive Metropolis retrieval and its network step.

Modules: :mod:`~soilbinn.proda.kernels` (batched MCMC kernels and PRODA's schedule),
:mod:`~soilbinn.proda.sampler` (run chains, record samples, checkpoints),
:mod:`~soilbinn.proda.cost` (PRODA's cost and layer weights),
:mod:`~soilbinn.proda.diagnostics` (split R-hat, ESS),
:mod:`~soilbinn.proda.retrieval` (per-site retrieval with the process model, NetCDF),
:mod:`~soilbinn.proda.network` (covariates -> posterior means, prediction).
"""
