"""Acceptance of issue 13: nothing a user does ends in a traceback or costs data.

Tries an existing ``--out``, unwritable outputs (a path under a regular file, a directory
where a file is expected), Ctrl-C during ``train``, truncated checkpoints (training, best
model, PRODA), sites files without a valid row, and checks each time: exit code, exactly one
line naming the path, no traceback, and no file created or changed. Also the atomic writer
(unique names, umask permissions, backups), progress in batch jobs and the help texts.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from soilbinn import io as sio
from soilbinn.cli import COMMAND_MODULES, build_parser, main

SRC = Path(__file__).resolve().parents[1] / "src"
SMALL = ["train.batch_size=16", "model.hidden=16", "model.depth=1",
         "model.lonlat_encoding.n_features=8", "train.progress=off"]  # fmt: skip


def _sets(over):
    return [a for o in over for a in ("--set", o)]


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative name -> sha256 of its bytes)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _one_error_line(capsys, *needles: str) -> str:
    cap = capsys.readouterr()
    err = cap.err.strip()
    assert "Traceback" not in cap.err + cap.out
    assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, (n, err)
    return err


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from soilbinn.data.schema import save_dataset
    from soilbinn.inputs.synth import make_synthetic

    d = tmp_path_factory.mktemp("data")
    save_dataset(make_synthetic(40, seed=3), d / "sites.nc")
    return d / "sites.nc"


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    """A finished 2-epoch run (its checkpoints are copied and damaged by the tests)."""
    out = tmp_path_factory.mktemp("runs") / "run"
    assert main(["train", "--data", str(data), "--run-dir", str(out),
                 *_sets([*SMALL, "train.epochs=2"])]) == 0  # fmt: skip
    return out


# ------------------------------------------------------------------ the atomic writer
def test_atomic_write_honours_umask_and_leaves_no_temporary(tmp_path):
    old = os.umask(0o027)
    try:
        p = sio.write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert p.read_text() == "x" and (p.stat().st_mode & 0o777) == 0o640
    os.umask(0o022)
    try:
        sio.write_bytes(tmp_path / "b.bin", b"y")
    finally:
        os.umask(old)
    assert ((tmp_path / "b.bin").stat().st_mode & 0o777) == 0o644
    # a failing or interrupted write leaves the target untouched and no temporary file
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)), sio.atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("partial")
            raise exc
    assert (tmp_path / "a.txt").read_text() == "x"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["a.txt", "b.bin"]


def test_atomic_temporaries_are_unique_and_backup_keeps_previous(tmp_path):
    target = tmp_path / "c.pt"
    with sio.atomic_path(target) as t1, sio.atomic_path(target) as t2:
        assert t1 != t2 and t1.parent == t2.parent == tmp_path
        t1.write_text("1")
        t2.write_text("2")
    assert target.read_text() == "1"  # the outer block finishes last and wins
    with sio.atomic_path(target, backup=tmp_path / "prev.pt") as t:
        t.write_text("3")
    assert target.read_text() == "3" and (tmp_path / "prev.pt").read_text() == "1"


def test_check_output_policy(tmp_path):
    f = tmp_path / "f.nc"
    assert sio.check_output(f) == f  # new file: fine
    f.write_text("keep")
    with pytest.raises(sio.OutputError, match="already exists; pass --overwrite"):
        sio.check_output(f)
    assert sio.check_output(f, overwrite=True) == f
    with pytest.raises(sio.OutputError, match="is a directory"):
        sio.check_output(tmp_path)
    with pytest.raises(sio.OutputError, match="is a file, not a directory"):
        sio.check_output(f / "deeper" / "x.nc")
    with pytest.raises(sio.OutputError, match="is a file; an output directory"):
        sio.check_output(f, kind="dir")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("")
    with pytest.raises(sio.OutputError, match="not empty"):
        sio.check_output(tmp_path / "d", kind="dir")
    assert f.read_text() == "keep"


# ------------------------------------------------------------------ existing / unwritable --out
def test_existing_output_is_refused_by_every_writing_command(data, run, tmp_path, capsys):
    existing = tmp_path / "exists.nc"
    existing.write_text("precious")
    sites = tmp_path / "sites.csv"
    sites.write_text("lat,lon\n40,-100\n")
    html = tmp_path / "exists.html"
    html.write_text("precious")
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "cue.png").write_text("precious")
    (tmp_path / "r.report.json").write_text("precious")
    cases = [
        ["synth", "--sites", "5", "--out", str(existing)],
        ["simulate", str(data), "--out", str(existing)],
        ["predict", str(run), "--data", str(data), "--out", str(existing)],
        ["predict", str(run), "--sites", str(sites), "--out", str(existing)],
        ["evaluate", str(run), "--data", str(data), "--out", str(existing)],
        ["map", str(existing), "--out", str(maps)],
        ["report", str(run), "--out", str(html)],
        ["prepare", "real", "--out", str(existing)],
        ["prepare", "grid", "--out", str(tmp_path / "r.nc"), "--report",
         str(tmp_path / "r.report.json")],
        ["proda", "predict", str(run), str(data), "--out", str(existing)],
    ]  # fmt: skip
    before = _snapshot(tmp_path)
    for argv in cases:
        assert main(argv) == 2, argv
        _one_error_line(capsys, "already exists", "--overwrite")
    assert _snapshot(tmp_path) == before


def test_overwrite_replaces(tmp_path, capsys):
    out = tmp_path / "s.nc"
    out.write_text("old")
    assert main(["synth", "--sites", "3", "--out", str(out), "--overwrite"]) == 0
    assert out.read_bytes()[:4] == b"\x89HDF"  # a NetCDF4 file now
    capsys.readouterr()


@pytest.mark.parametrize("where", ["under_a_file", "a_directory"])
def test_unwritable_output_is_one_line(where, data, tmp_path, capsys):
    blocker = tmp_path / "plain.txt"
    blocker.write_text("x")
    out = blocker / "sim.nc" if where == "under_a_file" else tmp_path
    before = _snapshot(tmp_path)
    for argv in (["simulate", str(data), "--out", str(out)],
                 ["synth", "--sites", "3", "--out", str(out)]):  # fmt: skip
        assert main(argv) == 2
        _one_error_line(capsys, str(out))
    assert _snapshot(tmp_path) == before


def test_os_errors_become_one_line_but_bugs_are_not_swallowed(monkeypatch, capsys):
    from soilbinn.cli import Command

    mod = __import__(COMMAND_MODULES["report"], fromlist=["COMMANDS"])

    def boom(args):
        raise PermissionError(13, "Permission denied", "/some/out.nc")

    monkeypatch.setitem(mod.COMMANDS, "report", Command(mod.COMMANDS["report"].configure, boom, ""))
    assert main(["report", "x"]) == 2
    _one_error_line(capsys, "soilbinn: error: /some/out.nc: Permission denied")

    def ctrl_c(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(
        mod.COMMANDS, "report", Command(mod.COMMANDS["report"].configure, ctrl_c, "")
    )
    assert main(["report", "x"]) == 130
    _one_error_line(capsys, "interrupted")

    def bug(args):
        raise OSError("no file involved")

    monkeypatch.setitem(mod.COMMANDS, "report", Command(mod.COMMANDS["report"].configure, bug, ""))
    with pytest.raises(OSError, match="no file involved"):
        main(["report", "x"])


# ------------------------------------------------------------------ sites without a valid row
@pytest.mark.parametrize(
    "content", ["", "lat,lon\n", "lat,lon\n10,10\nnan,5\n"], ids=["empty", "header", "outside"]
)
def test_sites_file_without_valid_row(content, tmp_path, capsys):
    csv = tmp_path / "sites.csv"
    csv.write_text(content)
    before = _snapshot(tmp_path)
    rc = main(["predict", str(tmp_path / "norun"), "--sites", str(csv),
               "--out", str(tmp_path / "pred.csv")])  # fmt: skip
    assert rc != 0
    _one_error_line(capsys, str(csv))
    assert _snapshot(tmp_path) == before  # no header-only CSV, no NetCDF


# ------------------------------------------------------------------ damaged checkpoints
def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def test_truncated_last_checkpoint_falls_back_to_previous(data, run, tmp_path, capsys):
    import shutil

    import pandas as pd

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert (copy / "checkpoints" / "previous.pt").exists()
    _truncate(copy / "checkpoints" / "last.pt")
    capsys.readouterr()
    assert main(["train", "--data", str(data), "--resume", str(copy)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{copy / 'checkpoints' / 'last.pt'} cannot be read" in err
    assert "resuming from the previous checkpoint" in err
    # epoch 2 was redone from epoch 1's state: the record has epochs 1 and 2 once each
    assert pd.read_csv(copy / "metrics.csv")["epoch"].tolist() == [1, 2]


def test_truncated_best_checkpoint_is_named(data, run, tmp_path, capsys):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    _truncate(copy / "checkpoints" / "best.pt")
    before = _snapshot(tmp_path)
    assert main(["evaluate", str(copy), "--data", str(data)]) == 2
    _one_error_line(capsys, str(copy / "checkpoints" / "best.pt"), "truncated or corrupt")
    assert main(["predict", str(copy), "--data", str(data), "--out", str(tmp_path / "p.nc")]) == 2
    _one_error_line(capsys, "best.pt")
    assert _snapshot(tmp_path) == before


def test_truncated_proda_checkpoint_is_named(data, tmp_path, capsys):
    out = tmp_path / "proda"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    rc = main(["proda", "retrieve", str(data), "--out", str(out), "--iterations", "4", "4",
               "--sites", "2", "--no-progress"])  # fmt: skip
    assert rc == 2
    _one_error_line(capsys, str(out / "checkpoint.pt"), "truncated or corrupt")


# ------------------------------------------------------------------ Ctrl-C during train
def _default_sigint() -> None:
    """In the child before exec: a test runner started in the background by a shell ignores
    SIGINT and children inherit that; Python then installs no KeyboardInterrupt handler. A
    runner may also block SIGINT (the mask, too, survives fork and exec): the signal would
    wait, pending, until training ended with code 0. Both are undone here."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _signal_state(pid: int) -> str:
    """How the child stood towards SIGINT when it was sent (for the failure message)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError as exc:
        return f"child {pid}: no status ({exc})"
    bit = 1 << (signal.SIGINT - 1)
    masks = {k: int(v, 16) for k, v in (ln.split(":\t") for ln in status if ln[:6] in ("SigBlk", "SigIgn", "SigCgt"))}  # fmt: skip
    return f"child {pid} at SIGINT: " + ", ".join(f"{k}={bool(v & bit)}" for k, v in masks.items())


def _interrupt(proc: subprocess.Popen, metrics: Path, lines: int) -> tuple[str, str]:
    """Send SIGINT once ``metrics`` has ``lines`` lines; returns (stdout, stderr)."""
    t0 = time.time()
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= lines):
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < 60, "training did not start"
        time.sleep(0.05)
    # so many epochs that only the signal ends the run, however late this process wakes
    assert proc.poll() is None, f"training ended before it was interrupted: {proc.communicate()}"
    state = _signal_state(proc.pid)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: every thread's stack on stderr
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        pytest.fail(f"SIGINT did not end training within 60 s; {state}\n{err}")
    assert proc.returncode == 130, f"{state}\n{err}"
    return out, err


def test_a_first_ctrl_c_is_deferred_to_a_check_and_a_second_interrupts_at_once():
    from soilbinn.interrupt import Deferred

    before = signal.getsignal(signal.SIGINT)
    with Deferred() as stop:
        stop.check()  # nothing pressed: no effect
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # the handler runs between two bytecodes
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            stop.check()
        with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C does not wait for a check
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)
    assert signal.getsignal(signal.SIGINT) is before


def test_ctrl_c_after_the_last_batch_stops_before_the_polishing(
    data, tmp_path, monkeypatch, capsys
):
    """A Ctrl-C during the last epoch's validation (after the last batch's check) still
    ends the run there, with the last epoch saved, instead of being dropped when the
    training loop ends and the polishing and GP stage running on."""
    import soilbinn.training.trainer as trainer_module

    real, calls = trainer_module.gathered_metrics, []

    def validation_then_ctrl_c(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:  # the second (last) epoch's validation
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
        return out

    monkeypatch.setattr(trainer_module, "gathered_metrics", validation_then_ctrl_c)
    rundir = tmp_path / "run"
    rc = main(["train", "--data", str(data), "--run-dir", str(rundir),
               *_sets([*SMALL, "train.epochs=2", "train.patience=5"])])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 130, err
    assert "soilbinn: interrupted; saved" in err and "(epoch 2)" in err
    assert len(calls) == 2  # no final evaluation either
    assert "polish" not in (rundir / "train.log").read_text()


@pytest.mark.slow
def test_ctrl_c_during_train_says_what_was_saved_and_resumes(data, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    env.pop("CI", None)
    rundir = tmp_path / "run"
    cmd = [sys.executable, "-m", "soilbinn", "train", "--data", str(data), "--run-dir",
           str(rundir), *_sets([*SMALL, "train.epochs=100000", "train.patience=100000"])]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)  # fmt: skip
    metrics = rundir / "metrics.csv"
    out, err = _interrupt(proc, metrics, 2)
    assert "Traceback" not in err + out
    assert f"soilbinn train: run directory {rundir}" in err  # printed at the start
    last = [ln for ln in err.splitlines() if ln.startswith("soilbinn: interrupted")]
    assert len(last) == 1 and err.strip().splitlines()[-1] == last[0]
    resume = f"soilbinn train --data {data} --resume {rundir}"
    assert str(rundir / "checkpoints" / "last.pt") in last[0] and last[0].endswith(resume)
    # the printed command continues: resume and interrupt once more after one more epoch
    done = len(metrics.read_text().splitlines())
    proc = subprocess.Popen([sys.executable, "-m", *resume.split()], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)  # fmt: skip
    out, err = _interrupt(proc, metrics, done + 1)
    assert "Traceback" not in err
    assert "resumed at epoch" in (rundir / "train.log").read_text()


# ------------------------------------------------------------------ progress in batch jobs
def test_progress_logs_lines_when_not_on_a_terminal(monkeypatch):
    from soilbinn.training import progress as pg

    monkeypatch.delenv("CI", raising=False)
    stream = io.StringIO()  # not a terminal
    assert pg.progress_enabled("auto", stream) == "log"
    monkeypatch.setattr(pg, "LOG_INTERVAL", 0.0)
    with pg.Progress(4, "epoch 7", pg.progress_enabled("auto", stream), stream) as bar:
        for _ in range(4):
            bar.update(1, loss=0.25)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("epoch 7: 4/4 steps, loss 0.25, ")
    assert "steps/s, ETA 0 s" in lines[-1]
    monkeypatch.setenv("CI", "1")
    assert pg.progress_enabled("auto", stream) is False
    assert pg.progress_enabled(False, stream) is False

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    tty = Terminal()
    monkeypatch.delenv("CI")
    assert pg.progress_enabled("auto", tty) == "bar" and pg.progress_enabled(True, stream) == "log"
    with pg.Progress(3, "epoch 2", "bar", tty) as bar:  # tqdm
        for _ in range(3):
            bar.update(1, loss=0.5)
    assert "epoch 2:" in tty.getvalue() and "/3 [" in tty.getvalue()  # a tqdm bar


# ------------------------------------------------------------------ help texts
def _parsers(parser: argparse.ArgumentParser, name: str):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                yield from _parsers(child, f"{name} {sub}")


@pytest.mark.parametrize("verb", sorted(COMMAND_MODULES))
def test_every_option_has_help_and_every_command_a_description(verb):
    top = build_parser(verb)
    cmd = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in _parsers(cmd.choices[verb], verb):
        assert parser.description, f"{name}: no description"
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest}: no help"


def test_help_shows_defaults():
    sim = build_parser("simulate")._subparsers._group_actions[0].choices["simulate"]
    text = " ".join(sim.format_help().split())
    assert "(default: structured)" in text and "(default: 8192)" in text
    assert "replace existing outputs (default: refuse and change nothing)" in text
    assert all(f"(default: {v})" not in text for v in ("None", "False", "[]"))
    prep = build_parser("prepare")._subparsers._group_actions[0].choices["prepare"]
    real = prep._subparsers._group_actions[0].choices["real"]
    assert "seed of the --max-profiles subset (default: 0)" in " ".join(real.format_help().split())


def test_config_help_lists_packaged_configs():
    from soilbinn.training.config import packaged_config_names

    names = packaged_config_names()
    assert {"binn_paper", "demo"} <= set(names)
    for verb in ("train", "cv"):
        text = " ".join(
            build_parser(verb)._subparsers._group_actions[0].choices[verb].format_help().split()
        )
        assert all(n in text for n in names)
    text = build_parser("train")._subparsers._group_actions[0].choices["train"].format_help()
    assert "docs/data_schema.md" in " ".join(text.split())


# ------------------------------------------------------------------ a clone is complete
def test_shipped_outline_draws_coasts_and_states():
    import matplotlib.pyplot as plt
    import numpy as np

    from soilbinn.evaluation.figures import SHIPPED_OUTLINE, draw_outlines

    assert SHIPPED_OUTLINE.stat().st_size < 300_000
    with np.load(SHIPPED_OUTLINE) as f:
        states, countries = f["states"], f["countries"]
    ok = np.isfinite(states[:, 0])
    # state lines span CONUS (lines at the 49th parallel, Florida, Maine ...)
    assert states[ok, 0].min() < -120 and states[ok, 0].max() > -70
    assert np.isnan(states[:, 0]).sum() > 40  # many separate lines
    assert countries[np.isfinite(countries[:, 1]), 1].min() < 26  # down to Florida's coast
    fig, ax = plt.subplots()
    assert draw_outlines(ax, None) and len(ax.lines) == 2
    plt.close(fig)


def test_vendored_reference_cases_are_present():
    data = Path(__file__).resolve().parent / "data"
    assert (data / "proda_matrix_fun_cases.json.gz").stat().st_size < 2_000_000
    assert "phxtao/PRODA_PUBLIC" in (data / "PROVENANCE.md").read_text()


def test_truncated_proda_network_is_named(data, tmp_path, capsys):
    net = tmp_path / "network.pt"
    net.write_bytes(b"PK\x03\x04 truncated")
    assert main(["proda", "predict", str(net), str(data), "--out", str(tmp_path / "p.nc")]) == 2
    _one_error_line(capsys, str(net), "truncated or corrupt")
    assert not (tmp_path / "p.nc").exists()


def test_ctrl_c_in_proda_retrieve_names_checkpoint_and_same_command(
    data, tmp_path, capsys, monkeypatch
):
    import soilbinn.proda.retrieval as retrieval

    out = tmp_path / "proda"

    def interrupted(ds, cfg, checkpoint=None, **kw):
        Path(checkpoint).write_bytes(b"state")  # as if a checkpoint had been written
        raise KeyboardInterrupt

    monkeypatch.setattr(retrieval, "retrieve", interrupted)
    argv = ["proda", "retrieve", str(data), "--out", str(out), "--iterations", "4", "4"]
    assert main(argv) == 130
    line = _one_error_line(capsys, str(out / "checkpoint.pt"))
    assert line.endswith("continue with: soilbinn " + " ".join(argv))


def test_prepare_prints_a_short_summary(tmp_path):
    from soilbinn.inputs.commands import _summary

    report = {
        "output": "real.nc", "seconds_total": 12.3,
        "kept": {"sites": 900, "source_profiles": 1500, "layers": 9000,
                 "by_source": {"neon": 40, "raca": 700, "sodah": 160}},
        "dropped_profiles": {"outside CONUS": 30, "no valid layer": 12, "no grid cell": 2},
    }  # fmt: skip
    text = _summary(report, tmp_path / "real.report.json")
    lines = text.splitlines()
    assert len(lines) == 3
    assert (
        lines[0]
        == "wrote real.nc: 900 sites from 1500 profiles, 9000 layers (neon 40, raca 700, sodah 160)"
    )
    assert "dropped 44 profiles" in lines[1] and "outside CONUS (30)" in lines[1]
    assert lines[2].endswith(f"full report: {tmp_path / 'real.report.json'}")


def test_read_only_file_system_is_one_line(tmp_path, capsys, monkeypatch):
    """We run as root in CI (chmod cannot make a directory unwritable): simulate EROFS."""
    import errno
    import tempfile

    def erofs(*args, dir=None, **kw):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), dir)

    monkeypatch.setattr(tempfile, "mkstemp", erofs)
    out = tmp_path / "s.nc"
    assert main(["synth", "--sites", "3", "--out", str(out)]) == 2
    _one_error_line(capsys, f"soilbinn: error: {tmp_path}: Read-only file system")
    assert not out.exists()
