"""The dataset contract: schema and validation, load/save, cross-validation splits.

Modules: :mod:`~soilbinn.data.schema` (names, units, checks, load/save, tensors),
:mod:`~soilbinn.data.splits`, :mod:`~soilbinn.data.commands` (``validate``).
Everything that *makes* a dataset (readers, grids, forcing derivation, covariates,
profile harmonisation, the synthetic generator) lives in :mod:`soilbinn.inputs`.
"""
