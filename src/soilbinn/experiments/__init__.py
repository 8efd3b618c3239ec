"""The BINN paper's experiments (Xu et al. 2025): recovery, BINN vs PRODA, efficiency.

Each experiment is one command writing a run directory (NetCDF results, CSV tables,
figures, ``experiment.json``); :mod:`~soilbinn.experiments.report` renders runs as one
offline HTML page.
"""
