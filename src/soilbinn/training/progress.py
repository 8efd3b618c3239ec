"""A minimal progress bar: quiet when not on a terminal, when CI is set, or when off."""

from __future__ import annotations

import os
import sys
import time


def progress_enabled(mode: str | bool = "auto", stream=None) -> bool:
    stream = stream or sys.stderr
    if isinstance(mode, bool):
        return mode
    return stream.isatty() and not os.environ.get("CI")


class Progress:
    """``with Progress(total, desc) as bar: bar.update(1, loss=...)``."""

    def __init__(self, total: int, desc: str = "", enabled: bool = True, stream=None) -> None:
        self.total, self.desc, self.enabled = total, desc, enabled
        self.stream = stream or sys.stderr
        self.n = 0
        self.t0 = time.perf_counter()
        self._last = 0.0

    def update(self, k: int = 1, **info: float) -> None:
        self.n += k
        now = time.perf_counter()
        if not self.enabled or (now - self._last < 0.2 and self.n < self.total):
            return
        self._last = now
        frac = self.n / max(self.total, 1)
        bar = "#" * int(25 * frac) + "-" * (25 - int(25 * frac))
        extra = " ".join(f"{k}={v:.4g}" for k, v in info.items())
        self.stream.write(
            f"\r{self.desc} [{bar}] {self.n}/{self.total} {now - self.t0:.1f}s {extra}   "
        )
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
