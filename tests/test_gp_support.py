"""The per-parameter support of the GP stage (``train.gp_prior.support: sbl``,
:mod:`soilbinn.training.gp_support`)."""

from __future__ import annotations

import torch

from soilbinn.training.gp_support import estimate_support

F64 = torch.float64


def test_each_parameter_keeps_the_covariates_its_logits_vary_with():
    """Three parameters on four covariates and a three-class category, seen through a
    Gaussian likelihood of the logits (sd 0.05): the first varies with covariates 0 and 2,
    the second with covariate 1 and the category, the third with none; each keeps exactly
    its own, and an exempt parameter keeps everything."""
    gen = torch.Generator().manual_seed(11)
    n = 400
    x = torch.randn(n, 4, generator=gen, dtype=F64)
    cat = torch.randint(0, 3, (n,), generator=gen)
    onehot = torch.nn.functional.one_hot(cat, 3).to(F64)
    feats = torch.cat([x, (onehot - onehot.mean(0)) / onehot.std(0)], 1)  # standardised
    truth = torch.stack([
        torch.sin(1.5 * x[:, 0]) + 0.4 * x[:, 2] ** 2,
        torch.tanh(x[:, 1]) + torch.tensor([-0.6, 0.1, 0.5], dtype=F64)[cat],
        torch.full((n,), 0.3, dtype=F64),
    ], 1)  # fmt: skip
    z = truth + 0.05 * torch.randn(n, 3, generator=gen, dtype=F64)
    h = torch.eye(3, dtype=F64).expand(n, 3, 3) / 0.05**2
    g = torch.zeros_like(z)  # the logits are the likelihood's own minimum
    blocks = [[4, 5, 6]]
    out = estimate_support(feats, z, g, h, blocks)
    assert out.shape == (3, 7) and out.dtype == torch.bool
    expected = torch.tensor([
        [False, True, False, True, True, True, True],
        [True, False, True, True, False, False, False],
        [True, True, True, True, True, True, True],
    ])  # fmt: skip
    assert torch.equal(out, expected)
    exempt = estimate_support(feats, z, g, h, blocks, exempt=[2])
    assert torch.equal(exempt[:2], expected[:2]) and not bool(exempt[2].any())
