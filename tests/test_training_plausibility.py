"""The plausibility term of the training loss (soilbinn.training.plausibility): zero with
zero gradient where steady states are plausible, a finite pull where they are not, anchors
that bring an implausible network back, strict config, and a trainer that is unchanged
while every state stays below the ceiling."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from soilbinn.process.examples import random_forcing, random_parameters
from soilbinn.process.model import CLM5Model
from soilbinn.training.config import ConfigError, load_config
from soilbinn.training.plausibility import (
    AnchorSampler,
    anchor_excess,
    column_carbon,
    stock_excess,
)

CEILING = 300.0  # kg m-2


@pytest.fixture(scope="module")
def states():
    """Random forcing and unit parameters of 200 sites, their column carbon (kg m-2)."""
    torch.manual_seed(0)
    model = CLM5Model(preset="binn2025")
    forcing = model.prepare(random_forcing(200, seed=0))
    p = random_parameters(200, model.space)
    with torch.no_grad():
        c = column_carbon(model(p, forcing)["pools"]) / 1000.0
    return model, forcing, p, c


def test_excess_is_zero_with_zero_gradient_below_the_ceiling(states):
    model, forcing, p, c = states
    low = torch.nonzero(c < 100.0).flatten()[:3]
    high = torch.nonzero((c > 3000.0) & torch.isfinite(c)).flatten()[:3]
    assert len(low) == 3 and len(high) >= 1
    for idx, plausible in ((low, True), (high, False)):
        q = p[idx].clone().requires_grad_()
        h = stock_excess(model(q, forcing.select(idx))["pools"], CEILING)
        (h**2).sum().backward()
        if plausible:
            assert (h == 0).all() and (q.grad == 0).all()
        else:
            assert (h > math.log(10.0)).all()
            assert torch.isfinite(q.grad).all() and (q.grad.abs().sum(1) > 0).all()
    # the same quantity the implausible flag uses: C > 1,000 kg m-2 <=> h > log(1000/ceiling)
    out = model(p, forcing)
    h = stock_excess(out["pools"], CEILING)
    ok = torch.isfinite(h)
    flagged = out["implausible"][ok]
    assert ((h[ok] > math.log(1000.0 / CEILING)) == flagged).all()


def test_the_term_pulls_implausible_parameters_back(states):
    model, forcing, p, c = states
    idx = torch.nonzero((c > 3000.0) & torch.isfinite(c)).flatten()[:4]
    f = forcing.select(idx)
    z = torch.logit(p[idx].clamp(1e-4, 1 - 1e-4)).requires_grad_()
    opt = torch.optim.Adam([z], lr=0.1)
    for _ in range(60):
        h = stock_excess(model(torch.sigmoid(z), f)["pools"], CEILING)
        if not bool((h > 0).any()):
            break
        opt.zero_grad()
        (h**2).sum().backward()
        opt.step()
    with torch.no_grad():
        out = model(torch.sigmoid(z), f)
    assert (column_carbon(out["pools"]) / 1000.0 <= CEILING * 1.05).all()
    assert not out["implausible"].any()


def _tiny_binn(n_sites: int = 40):
    from soilbinn.inputs.synth import make_synthetic
    from soilbinn.training.modelbuild import build_model
    from soilbinn.training.sitedata import site_data_from_dataset

    small = ["model.hidden=8", "model.depth=1", "model.lonlat_encoding.n_features=8"]
    cfg = load_config("demo", small)
    ds = make_synthetic(n_sites, seed=3)
    sd = site_data_from_dataset(ds, observations=False)
    x = sd.numeric
    meta = {"numeric_names": sd.numeric_names, "categorical_names": sd.categorical_names,
            "n_categories": sd.n_categories, "numeric_min": x.amin(0).tolist(),
            "numeric_max": x.amax(0).tolist(), "soc_scale": 1.0}  # fmt: skip
    torch.manual_seed(0)
    model = build_model(cfg, meta)
    sd.forcing = model.process_model.prepare(sd.forcing)
    return model, sd


def test_anchors_bring_an_implausible_network_back(states):
    _, _, p, c = states
    model, sd = _tiny_binn()
    bad = p[int(torch.nonzero((c > 3000.0) & torch.isfinite(c)).flatten()[0])]
    last = model.param_net.mlp[-1]  # a constant output: the implausible vector everywhere
    learned = bad[model.learned_index].to(torch.float32)
    with torch.no_grad():
        last.weight.mul_(0.01)
        last.bias.copy_(torch.logit(learned) * model.param_net.temperature)
    sampler = AnchorSampler(sd, seed=1)
    anchors = sampler.sample(16)
    assert anchors.soc is None and len(anchors) == 16
    # every anchor value of a covariate is a training value of that covariate
    assert all(bool(torch.isin(anchors.numeric[:, j], sd.numeric[:, j]).all())
               for j in range(sd.numeric.shape[1]))  # fmt: skip
    model.train()
    _, info = anchor_excess(model, anchors, CEILING)
    assert info["above"] >= 8 and model.training  # train mode restored
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(40):
        total, info = anchor_excess(model, sampler.sample(16), CEILING)
        if info["above"] == 0:
            break
        opt.zero_grad()
        total.backward()
        opt.step()
    _, info = anchor_excess(model, sampler.sample(64), CEILING)
    assert info["above"] <= 1


def test_config_is_strict():
    real = load_config("real").loss.plausibility  # on in real only (docs/real_data_evaluation.md)
    assert real.weight > 0 and real.anchors > 0 and real.ceiling < 1000
    base = load_config(None)
    assert base.loss.plausibility.weight == 0 and base.loss.plausibility.anchors == 0
    for bad, msg in (("loss.plausibility.weight=-1", "must be >= 0"),
                     ("loss.plausibility.ceiling=0", r"\(0, 1000\]"),
                     ("loss.plausibility.ceiling=5000", r"\(0, 1000\]"),
                     ("loss.plausibility.anchors=-2", "must be >= 0"),
                     ("loss.plausibility.ceilng=3", "unknown key.*loss.plausibility.ceilng")):  # fmt: skip
        with pytest.raises(ConfigError, match=msg):
            load_config(None, [bad])
    with pytest.raises(ConfigError, match="needs loss.plausibility.weight > 0"):
        load_config(None, ["loss.plausibility.weight=0", "loss.plausibility.anchors=8"])


def test_trainer_unchanged_while_plausible(tmp_path):
    from soilbinn.inputs.synth import make_synthetic
    from soilbinn.training.trainer import train

    ds = make_synthetic(40, seed=2)
    small = ["train.epochs=2", "train.batch_size=16", "model.hidden=8", "model.depth=1",
             "model.lonlat_encoding.n_features=8", "train.progress=off", "loss.kind=mse"]  # fmt: skip
    off = train(load_config(None, small), ds, run_dir=tmp_path / "off", figures=False)
    on_cfg = load_config(None, small + ["loss.plausibility.weight=1",
                                          "loss.plausibility.ceiling=1000",
                                          "loss.plausibility.anchors=8"])  # fmt: skip
    on = train(on_cfg, ds, run_dir=tmp_path / "on", figures=False)
    hist = pd.read_csv(tmp_path / "on" / "metrics.csv")
    assert {"plausibility_excess", "sites_above_ceiling", "anchors_above_ceiling",
            "anchors_nonfinite"} <= set(hist.columns)  # fmt: skip
    assert (hist["sites_above_ceiling"] == 0).all() and (hist["anchors_above_ceiling"] == 0).all()
    # nothing above the ceiling: the same weights, bit for bit
    for (k, a), b in zip(off.model.state_dict().items(), on.model.state_dict().values()):
        assert torch.equal(a, b), k
