"""soilbinn: Biogeochemistry-Informed Neural Networks for soil organic carbon.

A differentiable, vectorised CLM5 soil carbon matrix model (7 pools x 20 layers, solved
for steady state) embedded in a neural network that maps site covariates to the model's
21 biogeochemical parameters (Xu et al. 2025), with the PRODA baseline (Tao et al. 2020,
2023) for comparison.
"""

__version__ = "0.1.0"
