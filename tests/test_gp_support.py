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


def test_the_fixed_point_updates_stop_once_the_precisions_settle(monkeypatch):
    """MacKay's updates stop once no log precision moves by more than ``tol``: on the
    problem above they stop before the cap of 200 updates, at precisions within 1e-4
    (in log) of the 200 updates' and with the same groups switched off."""
    from soilbinn.training import gp_support

    gen = torch.Generator().manual_seed(5)
    n = 300
    x = torch.randn(n, 3, generator=gen, dtype=F64)
    z = torch.stack([torch.sin(x[:, 0]), 0.5 * x[:, 1] ** 2], 1)
    z = z + 0.05 * torch.randn(n, 2, generator=gen, dtype=F64)
    h = torch.eye(2, dtype=F64).expand(n, 2, 2) / 0.05**2
    g = torch.zeros_like(z)
    groups, _ = gp_support.additive_basis(x, [])
    calls = [0]
    cholesky = torch.linalg.cholesky

    def counted(a):
        calls[0] += 1
        return cholesky(a)

    monkeypatch.setattr(torch.linalg, "cholesky", counted)
    settled = gp_support.group_precisions(z, g, h, groups)
    n_settled, calls[0] = calls[0], 0
    full = gp_support.group_precisions(z, g, h, groups, tol=0.0)
    assert calls[0] == 200 and n_settled < 200
    assert float((settled.log() - full.log()).abs().max()) < 1e-4
    assert torch.equal(settled >= 1e4, full >= 1e4)
