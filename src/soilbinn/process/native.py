"""Optional compiled kernel of the structured steady-state solve (``structured.c``).

At a few hundred sites per call (PRODA's sampler: sites x chains rows per MCMC step) the
torch path of :mod:`soilbinn.process.solvers` spends its time in the overhead of ~900
small operations, not in arithmetic. ``structured.c`` does the same arithmetic,
operation for operation and in the same order (8 sites side by side, so that the
compiler vectorises across sites), so its results are bit-identical to the torch path's
(tested in ``tests/test_process_native.py``).

It is compiled on first use with the system's C compiler (``$CC``, else ``cc``; ``-O3``
without ``-ffast-math`` and with ``-ffp-contract=off``: IEEE arithmetic, no fused
multiply-add, so every operation rounds as torch's does) into a cache directory
(``$SOILBINN_CACHE_DIR``, else ``$XDG_CACHE_HOME/soilbinn`` or ``~/.cache/soilbinn``),
keyed by a hash of the source, compiler and flags, and loaded with :mod:`ctypes`. When there is no compiler, the build
fails, its first-use check against the torch path finds a difference on this machine, or
``SOILBINN_NATIVE=0`` is set, :func:`available` is False and the solvers use the torch
path (same results, slower). :func:`status` says which.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

log = logging.getLogger(__name__)

_SOURCE = Path(__file__).with_name("structured.c")
_FLAGS = ["-O3", "-fPIC", "-shared", "-ffp-contract=off", "-fno-fast-math"]
_VERSION = 3

_lib: ctypes.CDLL | None = None
_status: str | None = None


def _cache_dir() -> Path:
    env = os.environ.get("SOILBINN_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "soilbinn"


def _build() -> ctypes.CDLL:
    if sys.platform == "win32":
        raise RuntimeError("not built on Windows")
    if platform.machine().lower() in ("i386", "i486", "i586", "i686", "x86"):
        raise RuntimeError("not built on 32-bit x86 (x87 extended precision)")
    cc = shlex.split(os.environ.get("CC", "cc")) or ["cc"]
    if shutil.which(cc[0]) is None:
        raise RuntimeError(f"no C compiler ({cc[0]!r} not found)")
    src = _SOURCE.read_bytes()
    key = hashlib.sha256(
        b"\0".join([src, " ".join(cc + _FLAGS).encode(), platform.machine().encode()])
    ).hexdigest()[:16]
    target = _cache_dir() / f"structured-{key}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
        os.close(fd)
        try:
            proc = subprocess.run(
                [*cc, *_FLAGS, "-o", tmp, str(_SOURCE)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"{cc[0]} failed: {proc.stderr.strip()[:500]}")
            os.replace(tmp, target)  # atomic: concurrent builds are harmless
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    lib = ctypes.CDLL(str(target))
    if lib.soilbinn_structured_version() != _VERSION:
        raise RuntimeError(f"{target} is not version {_VERSION}")
    p = ctypes.c_void_p
    lib.soilbinn_structured_solve.argtypes = [ctypes.c_int64, p, p, p, p, p, p, p, p]
    lib.soilbinn_structured_solve.restype = None
    return lib


def _self_check(lib: ctypes.CDLL) -> None:
    """Raise unless the kernel reproduces the torch path bit for bit on this machine.

    A fixed random system with rates from 1e-300 to 1 d-1 (underflowing, ill-conditioned
    and ordinary rows), solved both ways: ``x``, ``y = P^-T 1`` and rcond must be equal.
    """
    from soilbinn.process.solvers import StructuredFactors, _rcond
    from soilbinn.process.system import SteadyStateSystem

    g = torch.Generator().manual_seed(12)
    n = 64

    def rand(*shape):
        return torch.rand(*shape, generator=g, dtype=torch.float64)

    K = 10.0 ** (-12.0 * rand(n, 7, 20))
    K[:8, 4:, 10:] = 1e-300  # SOM rates underflowing at depth
    K[8:16, :, 10:] = 1e-300  # and every rate, with no transport: ill-conditioned
    f = 0.9 * rand(n, 9)
    scale = 10.0 ** (-8.0 * rand(n, 1, 20))
    scale[8:16, :, 9:] = 1e-300
    V = torch.cat([-rand(n, 1, 20), rand(n, 1, 20), -rand(n, 1, 20)], dim=1) * scale
    u = rand(n, 4, 20)
    u[16:18] = 1e300  # overflow: non-finite steady states
    system = SteadyStateSystem(K=K, f=f, V=V, u=u)
    fa = StructuredFactors(system)
    want = (fa.solve(system.rhs()), fa.solve_transposed(torch.ones_like(K)))
    want = (*want, _rcond(system, want[1]))
    args = (K, f, V, system.rhs(), None)
    x, y, rc = (torch.empty_like(K), torch.empty_like(K), K.new_empty(n))
    lib.soilbinn_structured_solve(n, *(_ptr(t) for t in (*args, x, y, rc)))
    for name, a, b in zip(("x", "y", "rcond"), want, (x, y, rc)):
        if not bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all()):
            raise RuntimeError(f"its {name} differs from the torch path's on this machine")


def library() -> ctypes.CDLL | None:
    """The compiled kernel, built on first call; ``None`` when unavailable."""
    global _lib, _status
    if _status is None:
        if os.environ.get("SOILBINN_NATIVE", "1").strip().lower() in ("0", "false", "no", "off"):
            _status = "torch (SOILBINN_NATIVE=0)"
        else:
            try:
                lib = _build()
                _self_check(lib)
                _lib = lib
                _status = "native (compiled structured.c)"
            except Exception as err:  # no compiler, failed build, unloadable library
                _lib = None
                _status = f"torch (native kernel unavailable: {err})"
                log.info("soilbinn: %s", _status)
    return _lib


def available() -> bool:
    """Whether the compiled kernel can be used."""
    return library() is not None


def status() -> str:
    """Which implementation the structured solve uses, and why (one line)."""
    library()
    return str(_status)


def _ptr(t: torch.Tensor | None):
    return None if t is None else ctypes.c_void_p(t.data_ptr())


def usable(*tensors: torch.Tensor) -> bool:
    """The kernel is available and these tensors suit it (CPU float64, no autograd)."""
    return (
        all(t.device.type == "cpu" and t.dtype == torch.float64 for t in tensors)
        and not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))
        and available()
    )


def structured_solve(
    K: torch.Tensor,
    f: torch.Tensor,
    V: torch.Tensor,
    rhs: torch.Tensor | None,
    rhs_t: torch.Tensor | None = None,
    transposed: bool = True,
    rcond: bool = False,
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """``x = P^-1 rhs``, ``y = P^-T rhs_t`` (each (n, 7, 20)) and ``rcond`` (n,).

    One factorisation per site. ``rhs=None`` skips ``x``; ``transposed=False`` skips
    ``y``; ``rhs_t=None`` means all ones (``max(y) = ||P^-1||_1``); ``rcond=True`` also
    returns the exact 1-norm reciprocal condition number (needs ``rhs_t=None``). Same
    values as :class:`~soilbinn.process.solvers.StructuredFactors`'s ``solve`` and
    ``solve_transposed`` and :func:`~soilbinn.process.solvers.reciprocal_condition`.
    Call only when :func:`usable`.
    """
    lib = library()
    if lib is None:
        raise RuntimeError(status())
    if rcond and rhs_t is not None:
        raise ValueError("rcond needs the transposed solve with all ones (rhs_t=None)")
    K, f, V = (t.detach().contiguous() for t in (K, f, V))
    n = K.shape[0]
    if K.shape[1:] != (7, 20) or f.shape != (n, 9) or V.shape != (n, 3, 20):
        raise ValueError(f"shapes K {tuple(K.shape)}, f {tuple(f.shape)}, V {tuple(V.shape)}")
    rhs = None if rhs is None else rhs.detach().expand(n, 7, 20).contiguous()
    rhs_t = None if rhs_t is None else rhs_t.detach().expand(n, 7, 20).contiguous()
    x = torch.empty_like(K) if rhs is not None else None
    y = torch.empty_like(K) if transposed else None
    rc = K.new_empty(n) if rcond else None
    if n:
        lib.soilbinn_structured_solve(
            n, _ptr(K), _ptr(f), _ptr(V), _ptr(rhs), _ptr(rhs_t), _ptr(x), _ptr(y), _ptr(rc)
        )
    return x, y, rc


_retained: bool | None = None

#: glibc's mallopt parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def retain_freed_memory() -> bool:
    """Let glibc keep freed memory for reuse rather than return it to the system.

    A batched MCMC step at a few hundred sites allocates and frees temporaries of a few
    MB (e.g. (768, 20, 12) forcing-shaped arrays, the (768, 21, 21) proposal covariances).
    With glibc's defaults such blocks are often returned to the system when freed and
    faulted in again, page by page, at the next step (measured at 256 sites: about 1,000
    page faults per step, 15-25% of the step's CPU time). This sets glibc's ``M_MMAP_THRESHOLD`` to 32 MB and ``M_TRIM_THRESHOLD`` to
    256 MB for the whole process (so up to 256 MB of freed memory stays reserved), once.
    PRODA's sampler (:func:`soilbinn.proda.sampler.run_chains`) and training
    (:func:`soilbinn.training.trainer.train`: the GP stage's evidence fits free 20-30 MB
    per evaluation) call it. A no-op
    returning False on other C libraries or with ``SOILBINN_RETAIN_MEMORY=0``.
    """
    global _retained
    if _retained is None:
        _retained = False
        off = os.environ.get("SOILBINN_RETAIN_MEMORY", "1").strip().lower()
        if sys.platform.startswith("linux") and off not in ("0", "false", "no", "off"):
            try:
                libc = ctypes.CDLL("libc.so.6")
                ok = libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20) == 1
                _retained = ok and libc.mallopt(_M_TRIM_THRESHOLD, 256 << 20) == 1
            except (OSError, AttributeError):  # not glibc
                _retained = False
    return _retained
