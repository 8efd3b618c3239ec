"""Ctrl-C that ends in one line: what was saved and the exact command that continues.

Code that saves resumable state (training checkpoints, PRODA chain checkpoints) catches
``KeyboardInterrupt`` and raises :class:`Interrupted` with what is on disk and the command
that continues from it; ``soilbinn``'s ``main`` prints it as one line and exits with 130
(the shell's code for SIGINT). Any other Ctrl-C also ends in one line, without a traceback.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence

#: exit code after Ctrl-C (128 + SIGINT), as shells report it
EXIT_INTERRUPTED = 130


class Interrupted(KeyboardInterrupt):
    """An interruption after which ``saved`` is on disk and ``resume`` continues the work.

    Subclasses ``KeyboardInterrupt`` so that callers handling Ctrl-C still see it.

    Parameters
    ----------
    saved : str
        What is on disk, e.g. ``"checkpoint runs/x/checkpoints/last.pt (epoch 3)"``.
    resume : str
        The exact command (or call) that continues, e.g. from :func:`command_line`.
    """

    def __init__(self, saved: str, resume: str) -> None:
        super().__init__(saved, resume)
        self.saved, self.resume = saved, resume

    def __str__(self) -> str:
        return f"interrupted; saved {self.saved}; continue with: {self.resume}"


def command_line(*words: str | None, argv: Sequence[str] | None = None) -> str:
    """A shell-quoted ``soilbinn`` command.

    ``command_line("train", "--data", path, "--resume", run)`` builds it from words (``None``
    words are dropped); ``command_line(argv=sys.argv[1:])`` repeats the current command.
    """
    parts = list(argv) if argv is not None else [w for w in words if w is not None]
    return " ".join(["soilbinn", *(shlex.quote(str(w)) for w in parts)])


class Deferred:
    """Within the block, a first Ctrl-C (SIGINT) only sets ``requested``; the code inside
    checks it where its state is consistent (between two MCMC steps, two training batches)
    and stops there after saving. A second Ctrl-C interrupts at once.

    A KeyboardInterrupt raised by Python's default handler lands wherever the main thread
    happens to be: inside a checkpoint write, a ``finally`` clause, a finaliser (where it
    is swallowed) or a custom autograd backward called from torch's engine. Deferring it to
    known points makes the saved state and the exit certain. Only active in the main thread
    (signal handlers can be installed nowhere else); elsewhere ``requested`` stays False.

    Examples
    --------
    >>> with Deferred() as stop:
    ...     for step in range(3):
    ...         stop.check()  # raises KeyboardInterrupt after a first Ctrl-C
    """

    def __init__(self) -> None:
        self.requested = False
        self._old = None

    def _handler(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was pressed inside the block."""
        if self.requested:
            raise KeyboardInterrupt

    def __enter__(self) -> Deferred:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        import signal

        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None


def report(exc: KeyboardInterrupt, stream=None) -> int:
    """Print one line for an interruption; return :data:`EXIT_INTERRUPTED`."""
    stream = stream or sys.stderr
    if isinstance(exc, Interrupted):
        print(f"soilbinn: {exc}", file=stream)
    else:
        print("soilbinn: interrupted (Ctrl-C)", file=stream)
    return EXIT_INTERRUPTED
