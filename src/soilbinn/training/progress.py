"""Progress of long loops that works at a terminal and in batch jobs.

- On a terminal: a ``tqdm`` bar on stderr.
- Not on a terminal (a batch job, output redirected): one line on stderr every
  :data:`LOG_INTERVAL` seconds, e.g. ``epoch 3: 120/800 steps, loss 0.0123, 12.3 steps/s,
  ETA 55 s``, so a log shows that the run is alive and how fast it goes.
- Nothing when the environment variable ``CI`` is set (the project's convention for test
  runs) or when switched off (``train.progress: false``).
"""

from __future__ import annotations

import os
import sys
import time

#: seconds between progress lines when stderr is not a terminal
LOG_INTERVAL = 10.0


def progress_enabled(mode: str | bool = "auto", stream=None) -> str | bool:
    """How to show progress: ``"bar"`` (terminal), ``"log"`` (batch job) or ``False``.

    Parameters
    ----------
    mode : {"auto", True, False}
        ``"auto"``: off when ``CI`` is set, else by the stream; ``True``: on (a bar on a
        terminal, log lines otherwise); ``False``: off.
    stream : file, optional
        Where progress goes (default ``sys.stderr``).
    """
    stream = stream or sys.stderr
    if mode is False or (mode == "auto" and os.environ.get("CI")):
        return False
    isatty = getattr(stream, "isatty", lambda: False)()
    return "bar" if isatty else "log"


class Progress:
    """``with Progress(total, desc, enabled) as bar: bar.update(1, loss=...)``.

    ``enabled`` is a value of :func:`progress_enabled` (``True`` picks by the stream).
    """

    #: time of the last log line, shared by consecutive loops (e.g. epochs)
    _last_line = -float("inf")

    def __init__(self, total: int, desc: str = "", enabled: str | bool = True, stream=None) -> None:
        self.total, self.desc = total, desc
        self.stream = stream or sys.stderr
        self.mode = progress_enabled(True, self.stream) if enabled is True else enabled
        self.n = 0
        self.t0 = time.perf_counter()
        self._bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, file=self.stream, leave=False,
                             dynamic_ncols=True, unit="step")  # fmt: skip

    def update(self, k: int = 1, **info: float) -> None:
        """Advance by ``k`` steps; ``info`` (e.g. ``loss=0.1``) is shown with it."""
        self.n += k
        if self._bar is not None:
            if info:
                self._bar.set_postfix({n: f"{v:.4g}" for n, v in info.items()}, refresh=False)
            self._bar.update(k)
        elif self.mode == "log":
            now = time.perf_counter()
            if now - Progress._last_line >= LOG_INTERVAL:
                Progress._last_line = now
                self.stream.write(self.line(now, info) + "\n")
                self.stream.flush()

    def line(self, now: float, info: dict[str, float]) -> str:
        """The log line: ``desc: n/total steps, info, rate, ETA``."""
        elapsed = max(now - self.t0, 1e-9)
        rate = self.n / elapsed
        eta = (self.total - self.n) / rate if rate > 0 else float("inf")
        extra = "".join(f", {name} {v:.4g}" for name, v in info.items())
        return (f"{self.desc}: {self.n}/{self.total} steps{extra}, {rate:.3g} steps/s, "
                f"ETA {eta:.0f} s")  # fmt: skip

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
