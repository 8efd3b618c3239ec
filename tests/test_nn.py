"""Networks: input scaling, embeddings, lon/lat encoding, parameter net, baseline."""

from __future__ import annotations

import math

import pytest
import torch

from soilbinn.nn.baseline import SOCNet
from soilbinn.nn.encoders import LonLatEncoder, SiteInputs
from soilbinn.nn.layers import GlobalBatchNorm1d
from soilbinn.nn.param_net import ParamNet


def _inputs(lonlat=None):
    return SiteInputs(torch.tensor([0.0, 10.0]), torch.tensor([2.0, 20.0]), [3, 2], 5, lonlat)


def test_scaling_clips_and_fills_missing():
    inp = _inputs()
    x = torch.tensor([[1.0, 10.0], [4.0, 5.0], [float("nan"), 20.0]])
    s = inp.scale(x)
    assert torch.allclose(s, torch.tensor([[0.5, 0.0], [1.0, 0.0], [0.5, 1.0]]))


def test_zscore_scaling_clips_to_training_range_then_standardises():
    inp = SiteInputs(torch.tensor([0.0, 10.0]), torch.tensor([2.0, 20.0]), [3, 2], 5,
                     scaling="zscore", numeric_mean=torch.tensor([0.5, 12.0]),
                     numeric_std=torch.tensor([0.5, 0.0]))  # fmt: skip
    x = torch.tensor([[1.0, 10.0], [4.0, 5.0], [float("nan"), 30.0]])
    s = inp.scale(x)
    # column 2 has sd 0: divided by 1; 4.0 and 30.0 clip to the training maxima first
    assert torch.allclose(s, torch.tensor([[1.0, -2.0], [3.0, -2.0], [0.0, 8.0]]))
    assert {"numeric_mean", "numeric_std"} <= set(inp.state_dict())
    assert "numeric_mean" not in _inputs().state_dict()  # minmax checkpoints unchanged
    with pytest.raises(ValueError, match="numeric_mean"):
        SiteInputs(torch.zeros(2), torch.ones(2), scaling="zscore")


def test_embeddings_unseen_and_missing_codes_share_index_zero():
    inp = _inputs()
    x = torch.zeros(4, 2)
    cat = torch.tensor([[-1, 0], [5, 0], [0, 0], [2, 1]])
    f = inp(x, cat)
    assert f.shape == (4, 2 + 10)
    assert torch.equal(f[0], f[1])  # missing and unseen -> the same "missing" embedding
    assert not torch.equal(f[0], f[2])


def test_lonlat_encoder_shape_and_scales():
    enc = LonLatEncoder(16, n_scales=4, min_scale_deg=10.0, max_scale_deg=360.0)
    assert enc.projection.shape == (2, 12)  # 3 directions x 4 wavelengths
    # the first direction (east) of the first and last scales: 2 pi / 10 and 2 pi / 360
    assert float(enc.projection[0, 0]) == pytest.approx(2 * math.pi / 10.0, rel=1e-6)
    assert float(enc.projection[0, 3]) == pytest.approx(2 * math.pi / 360.0, rel=1e-6)
    a = enc(torch.tensor([[-100.0, 40.0], [-100.0, 40.0], [-90.0, 35.0]]))
    assert a.shape == (3, 16) and torch.equal(a[0], a[1]) and not torch.equal(a[0], a[2])


def test_param_net_output_in_unit_interval_and_temperature_bounds():
    torch.manual_seed(0)
    net = ParamNet(_inputs(LonLatEncoder(8, 4)), n_out=21, hidden=16, depth=2)
    assert float(net.temperature.detach()) == pytest.approx(59.5)
    x = torch.rand(8, 2) * 20
    p = net(x, torch.zeros(8, 2, dtype=torch.int64), torch.rand(8, 2) * 50)
    assert p.shape == (8, 21) and bool(((p > 0) & (p < 1)).all())
    with torch.no_grad():
        net.temperature_logit.fill_(1e3)
    assert float(net.temperature.detach()) == pytest.approx(109.0)
    fixed = ParamNet(_inputs(), 3, learn_temperature=False, t_init=30.0)
    assert "temperature_logit" not in dict(fixed.named_parameters())
    assert float(fixed.temperature) == pytest.approx(30.0)


def test_fixed_input_parts_do_not_depend_on_any_weight():
    """The polishing computes ``inputs.fixed`` once and reuses it while the weights move:
    with parts computed before a change of every weight, ``from_fixed`` must still give
    ``forward``'s output and gradients of the changed network, bit for bit."""
    torch.manual_seed(0)
    net = ParamNet(_inputs(LonLatEncoder(8, 4)), n_out=3, hidden=16, depth=2,
                   covariate_trend=True).eval()  # fmt: skip
    x = torch.rand(7, 2) * 20
    cat = torch.tensor([[0, 1], [1, 0], [2, 1], [-1, 0], [1, 1], [4, 0], [0, 1]])
    ll = torch.rand(7, 2) * 50
    with torch.no_grad():
        fixed = net.inputs.fixed(x, cat, ll)
        for w in net.parameters():
            w.add_(torch.randn_like(w))
    assert not any(t.requires_grad for t in [fixed[0], *fixed[1], fixed[2]])
    grads = []
    for out in (net(x, cat, ll), net.from_fixed(fixed)):
        net.zero_grad()
        (out**2).sum().backward()
        grads.append([torch.zeros_like(w) if w.grad is None else w.grad for w in net.parameters()])
        assert torch.equal(out, net(x, cat, ll))
    assert all(torch.equal(a, b) for a, b in zip(*grads))
    assert any(float(g.abs().max()) > 0 for g in grads[0])


def test_covariate_trend_starts_at_zero_is_logit_linear_and_escapes_weight_decay():
    from soilbinn.training.trainer import _decay_groups

    enc = LonLatEncoder(8, 4)
    torch.manual_seed(0)
    plain = ParamNet(_inputs(enc), n_out=3, hidden=16, depth=2, batchnorm=False)
    torch.manual_seed(0)
    net = ParamNet(_inputs(enc), n_out=3, hidden=16, depth=2, batchnorm=False,
                   covariate_trend=True)  # fmt: skip
    assert net.n_cov_features == 2 + 2 * 5  # numeric + two embeddings, not lon/lat (8)
    x = torch.rand(6, 2) * 20
    cat = torch.tensor([[0, 1], [1, 0], [2, 1], [0, 0], [1, 1], [2, 0]])
    ll = torch.rand(6, 2) * 50
    assert torch.equal(net(x, cat, ll), plain(x, cat, ll))  # zero trend: the same model
    with torch.no_grad():
        net.trend.normal_()
    feats = net.inputs(x, cat, ll)
    logit = torch.logit(net(x, cat, ll).double()) - torch.logit(plain(x, cat, ll).double())
    want = feats[:, :12].double() @ net.trend.double()
    assert torch.allclose(logit, want, atol=1e-4)
    ll2 = ll + 7.0  # the trend does not see location
    assert torch.allclose(
        torch.logit(net(x, cat, ll2).double()) - torch.logit(plain(x, cat, ll2).double()),
        want, atol=1e-4,
    )  # fmt: skip
    decayed = {id(p) for p in _decay_groups(net, 0.1)[0]["params"]}
    assert id(net.trend) not in decayed and id(net.mlp[0].weight) in decayed


def test_global_batchnorm_is_batchnorm_on_one_process():
    torch.manual_seed(0)
    x = torch.randn(10, 4) * 3 + 1
    g, ref = GlobalBatchNorm1d(4), torch.nn.BatchNorm1d(4)
    assert torch.allclose(g(x), ref(x))
    assert torch.allclose(g.running_var, ref.running_var)
    assert g.state_dict().keys() == ref.state_dict().keys()


def test_baseline_positive_and_scaled():
    torch.manual_seed(0)
    net = SOCNet(_inputs(), soc_scale=5000.0, hidden=8, depth=1).eval()
    with torch.no_grad():
        soc = net(torch.rand(5, 2), torch.zeros(5, 2, dtype=torch.int64))
    assert soc.shape == (5, 20) and bool((soc > 0).all())
    # an untrained network sits near the scale (softplus(0) is mapped to the scale)
    assert 0.01 < float(soc.median()) / 5000.0 < 100.0
    assert math.isfinite(float(soc.sum()))
