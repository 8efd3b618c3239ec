"""The data layer: dataset schema and validation, importers, gridded sampling, synthetic
CONUS data with known truth, and cross-validation splits.

Modules: :mod:`~soilbinn.data.schema` (names, units, checks, load/save, tensors),
:mod:`~soilbinn.data.importers` (CSV profiles, covariate tables),
:mod:`~soilbinn.data.gridded` (NetCDF / CESM2 grids at sites, gridded forcing),
:mod:`~soilbinn.data.forcing_builder` (derived forcing physics),
:mod:`~soilbinn.data.conus` (land mask), :mod:`~soilbinn.data.synth`,
:mod:`~soilbinn.data.splits`, :mod:`~soilbinn.data.commands` (``validate``, ``synth``).
"""
