"""Everything that makes a dataset: grid readers and sampling, derived forcing,
covariates, profile harmonisation, boundaries, and the synthetic generator.
"""
