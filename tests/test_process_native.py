"""The compiled structured solve (soilbinn.process.native): bit-identical to the torch
path, and a clean fallback to it when the kernel cannot be built or is switched off."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from soilbinn.process import native
from soilbinn.process.examples import random_forcing, random_parameters
from soilbinn.process.model import CLM5Model
from soilbinn.process.parameters import PRESETS
from soilbinn.process.solvers import StructuredFactors, reciprocal_condition

needs_native = pytest.mark.skipif(not native.available(), reason=native.status())


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bit for bit (NaN where NaN)."""
    return bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all())


def _systems(n=256, seed=0):
    forcing = random_forcing(n, seed=seed)
    for preset in sorted(PRESETS):
        for transport in ("clm5", "simple", "simple2"):
            m = CLM5Model(preset, transport=transport)
            p = random_parameters(n, m.space, seed=seed + 1)
            g = torch.Generator().manual_seed(seed)
            # corners of the unit cube: ill-conditioned, underflowing and non-finite states
            p[: n // 4] = torch.randint(0, 2, (n // 4, m.space.n), generator=g).double()
            # the whole unit cube (a third of proda2023's is ill-conditioned)
            p[n // 4 : n // 2] = torch.rand(n // 4, m.space.n, generator=g, dtype=p.dtype)
            yield f"{preset}-{transport}", m.assemble(p, m.prepare(forcing))


@needs_native
def test_native_is_bit_identical_to_torch():
    nonfinite = ill = 0
    for name, s in _systems():
        fa = StructuredFactors(s)
        x0 = fa.solve(s.rhs())
        y0 = fa.solve_transposed(torch.ones_like(s.K))
        rt = torch.rand(s.K.shape, generator=torch.Generator().manual_seed(1), dtype=s.K.dtype)
        y0r = fa.solve_transposed(rt)
        rc0 = reciprocal_condition(s, fa)
        x1, y1, rc1 = native.structured_solve(s.K, s.f, s.V, s.rhs(), rcond=True)
        _, y1r, none = native.structured_solve(s.K, s.f, s.V, None, rt)
        assert none is None
        assert _same(x0, x1), name
        assert _same(y0, y1), name
        assert _same(y0r, y1r), name
        assert _same(rc0, rc1), name
        nonfinite += int((~torch.isfinite(x0)).flatten(1).any(1).sum())
        ill += int((rc0 < torch.finfo(torch.float64).eps).sum())
    assert ill > 100 and nonfinite > 0  # the hard cases were exercised


@needs_native
def test_model_outputs_identical_with_and_without_native(monkeypatch):
    forcing = random_forcing(128, seed=4)
    m = CLM5Model("proda2023")
    p = random_parameters(128, m.space, seed=5)
    with torch.no_grad():
        a = m(p, forcing)
        monkeypatch.setattr(native, "usable", lambda *t: False)
        b = m(p, forcing)
    for k in a:
        assert _same(a[k].double(), b[k].double()), k


@needs_native
def test_gradients_and_rcond_identical_with_and_without_native(monkeypatch):
    """The differentiable solve (forward with rcond, implicit backward) in the kernel."""
    forcing = random_forcing(96, seed=6)
    m = CLM5Model("binn2025")
    p0 = random_parameters(96, m.space, seed=7)

    def run():
        p = p0.clone().requires_grad_(True)
        out = m(p, forcing)
        (
            out["soc_layer"].log() * torch.linspace(0.5, 1.5, 20, dtype=torch.float64)
        ).sum().backward()
        return out["soc_layer"].detach(), out["rcond"], p.grad

    a = run()
    monkeypatch.setattr(native, "usable", lambda *t: False)
    b = run()
    assert a[1].requires_grad is False
    for x, y in zip(a, b):
        assert _same(x, y)


def test_failed_build_falls_back_to_torch(monkeypatch, tmp_path):
    monkeypatch.setattr(native, "_lib", None)
    monkeypatch.setattr(native, "_status", None)
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("SOILBINN_CACHE_DIR", str(tmp_path / "cache"))
    assert not native.available()
    assert native.status().startswith("torch (native kernel unavailable")
    forcing = random_forcing(8, seed=1)
    m = CLM5Model("proda2023")
    out = m(random_parameters(8, m.space, seed=2), forcing)
    assert torch.isfinite(out["rcond"]).all()
    with pytest.raises(RuntimeError):
        native.structured_solve(torch.ones(1, 7, 20), torch.ones(1, 9), torch.ones(1, 3, 20), None)


def test_switched_off_by_environment():
    env = dict(os.environ, SOILBINN_NATIVE="0")
    code = "from soilbinn.process import native; print(native.status())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "torch (SOILBINN_NATIVE=0)"


@needs_native
def test_not_used_with_autograd():
    K = torch.ones(2, 7, 20, dtype=torch.float64, requires_grad=True)
    assert not native.usable(K)
    assert not native.usable(torch.ones(2, 7, 20, dtype=torch.float32))
    with torch.no_grad():
        assert native.usable(K)


def test_retain_freed_memory_is_idempotent_and_can_be_switched_off():
    first = native.retain_freed_memory()
    assert isinstance(first, bool) and native.retain_freed_memory() is first
    env = dict(os.environ, SOILBINN_RETAIN_MEMORY="0")
    code = "from soilbinn.process import native; print(native.retain_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@needs_native
def test_first_use_check_rejects_a_kernel_that_differs():
    native._self_check(native.library())  # the real kernel passes

    class Wrong:  # leaves its outputs as they are (uninitialised or zero)
        @staticmethod
        def soilbinn_structured_solve(*args):
            return None

    with pytest.raises(RuntimeError, match="differs from the torch path"):
        native._self_check(Wrong())
