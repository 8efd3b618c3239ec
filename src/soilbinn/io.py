"""Writing outputs: one policy and one atomic writer for every command.

Policy
------
An existing output is never replaced unless the user asks for it (``--overwrite``, added
to a command's parser by :func:`add_overwrite_argument`); :func:`check_output` refuses it,
and a path that cannot be written (a directory where a file is expected, a parent that is a
regular file or cannot be created) before any work is done, with one line naming the path.

Atomic writes
-------------
:func:`atomic_path` yields a temporary path with a unique name in the target's directory
(so parallel runs never collide and the final rename stays on one file system); when the
block ends the file is flushed to disk (``fsync``), given the permissions a plain
``open()`` would give it (``0o666 & ~umask``) and renamed over the target with
``os.replace``. If the block fails or is interrupted, the temporary file is removed and the
target is untouched. The helpers below (text, bytes, CSV, NetCDF, torch checkpoints,
matplotlib figures) all go through it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class OutputError(ValueError):
    """An output cannot or may not be written (the message names the path and why)."""


def add_overwrite_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--overwrite`` to a command that writes outputs (the one way to do so)."""
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing outputs (default: refuse and change nothing)",
    )


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _check_parent(path: Path) -> None:
    """The first existing ancestor of ``path`` must be a writable directory."""
    parent = path.parent
    while not parent.exists():
        if parent.is_symlink() or parent == parent.parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"{path}: cannot write here, {parent} is a file, not a directory")
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write here, {parent} is not writable")


def check_output(path: str | Path, overwrite: bool = False, kind: str = "file") -> Path:
    """Check that ``path`` may be written; raise :class:`OutputError` otherwise.

    Parameters
    ----------
    path : str or Path
        The output file (``kind="file"``) or output directory (``kind="dir"``).
    overwrite : bool
        Allow replacing an existing file, or writing into a non-empty directory.
    kind : {"file", "dir"}

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path` (parents are not created).
    """
    if kind not in ("file", "dir"):
        raise ValueError(f"kind must be 'file' or 'dir', got {kind!r}")
    path = Path(path)
    if kind == "file":
        if path.is_dir():
            raise OutputError(f"{path}: is a directory; an output file name is expected here")
        if path.exists() and not overwrite:
            raise OutputError(
                f"{path} already exists; pass --overwrite to replace it (nothing was changed)"
            )
    else:
        if path.exists() and not path.is_dir():
            raise OutputError(f"{path}: is a file; an output directory is expected here")
        if path.is_dir() and any(path.iterdir()) and not overwrite:
            raise OutputError(
                f"{path} already exists and is not empty; pass --overwrite to write into it "
                "(nothing was changed)"
            )
    _check_parent(path)
    return path


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # not possible on some systems; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path, backup: str | Path | None = None) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    Parameters
    ----------
    path : str or Path
        The final file. Its directory is created if missing.
    backup : str or Path, optional
        If given and ``path`` exists, the existing file is moved here just before the new
        one takes its place (keeps the previous good version of e.g. a checkpoint).

    Yields
    ------
    Path
        A unique temporary file in ``path``'s directory (exists, empty, mode 0600 while
        being written); write it completely inside the ``with`` block.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a directory; an output file name is expected here")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        if backup is not None and path.exists():
            os.replace(path, backup)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_csv(frame: Any, path: str | Path, **kwargs: Any) -> Path:
    """Write a pandas DataFrame as CSV atomically (``kwargs`` go to ``to_csv``)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **kwargs)
    return Path(path)


def write_netcdf(ds: Any, path: str | Path, **kwargs: Any) -> Path:
    """Write an xarray Dataset to NetCDF atomically (``kwargs`` go to ``to_netcdf``)."""
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, **kwargs)
    return Path(path)


def save_torch(obj: Any, path: str | Path, backup: str | Path | None = None) -> Path:
    """``torch.save`` atomically; ``backup`` keeps the replaced file (see :func:`atomic_path`)."""
    import torch

    with atomic_path(path, backup=backup) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def save_figure(fig: Any, path: str | Path, **kwargs: Any) -> Path:
    """Save a matplotlib figure atomically; the format follows ``path``'s suffix."""
    kwargs.setdefault("format", Path(path).suffix.lstrip(".") or "png")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, **kwargs)
    return Path(path)
