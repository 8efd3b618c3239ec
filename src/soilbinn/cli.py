"""The ``soilbinn`` command: a few verbs, each owned by the module that implements it.

Every command module exposes ``COMMANDS: dict[str, Command]``; this file only knows which
module owns which verb (a plain dict registry) and imports it when the verb is used.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import NamedTuple


class Command(NamedTuple):
    """One verb: ``configure(parser)`` adds its arguments, ``run(args) -> exit code``."""

    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    help: str


#: verb -> module that defines it in its ``COMMANDS`` dict
COMMAND_MODULES: dict[str, str] = {
    "simulate": "soilbinn.process.commands",
    "bench": "soilbinn.process.commands",
    "validate": "soilbinn.data.commands",
    "synth": "soilbinn.inputs.commands",
    "demo": "soilbinn.training.commands",
    "train": "soilbinn.training.commands",
    "evaluate": "soilbinn.training.commands",
    "cv": "soilbinn.training.commands",
    "predict": "soilbinn.training.commands",
    "map": "soilbinn.training.commands",
    "explain": "soilbinn.evaluation.commands",
    "proda": "soilbinn.proda.commands",
    "experiment": "soilbinn.experiments.commands",
    "report": "soilbinn.experiments.commands",
    "prepare": "soilbinn.inputs.commands",
    "identifiability": "soilbinn.evaluation.identifiability",
}

#: one-line descriptions shown by ``soilbinn --help`` without importing every module
SUMMARIES: dict[str, str] = {
    "simulate": "run the CLM5 process model on a dataset and write SOC, pools and processes",
    "bench": "benchmark the process model (sites/s, memory) against a dense solve",
    "validate": "check a dataset against the soilbinn schema and list every problem",
    "synth": "generate a synthetic CONUS dataset with known true parameters",
    "demo": "end-to-end demo on synthetic data: train, evaluate, predict, map",
    "train": "train BINN (or the pure-NN baseline) from a YAML config",
    "evaluate": "evaluate a trained run on a dataset",
    "cv": "k-fold cross-validation (random or spatial)",
    "predict": "predict parameters, SOC and processes at sites or on a grid",
    "map": "draw CONUS maps of a prediction file",
    "explain": "which covariates drive each parameter, process and stock (importance table and figure)",
    "proda": "PRODA: per-site adaptive Metropolis retrieval and its network step",
    "experiment": "the paper's experiments: recovery, compare, efficiency",
    "report": "an offline HTML report of one or more runs",
    "prepare": "prepare real observed profiles with derived forcing and covariates",
    "identifiability": "which parameters the observations constrain at each site (Fisher/Laplace)",
}


def _load(verb: str) -> Command:
    module = importlib.import_module(COMMAND_MODULES[verb])
    return module.COMMANDS[verb]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default unless its help already states one (or it has none)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" in text.lower()
            or any(action.default is v for v in (None, False, argparse.SUPPRESS))
            or action.default == []
            or not action.option_strings
        ):
            return text
        return text + " (default: %(default)s)"


def _finish(parser: argparse.ArgumentParser) -> None:
    """Every (sub)parser: the defaults formatter, and its help line as its description."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, child in action.choices.items():
                if child.description is None and helps.get(name):
                    child.description = helps[name]
                _finish(child)


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="soilbinn",
        description="Biogeochemistry-Informed Neural Networks for soil organic carbon.",
    )
    from soilbinn import __version__

    parser.add_argument("--version", action="version", version=f"soilbinn {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND")
    for name, summary in SUMMARIES.items():
        p = sub.add_parser(name, help=summary, description=summary)
        if name == verb:
            _load(name).configure(p)
    _finish(parser)
    return parser


def _os_error_line(err: OSError) -> str | None:
    """``PATH: reason`` for an OS error that names a file, else None (a genuine bug)."""
    if err.filename is None:
        return None
    where = str(err.filename) + (f" -> {err.filename2}" if err.filename2 else "")
    return f"{where}: {err.strerror or err}"


def main(argv: list[str] | None = None) -> int:
    """Run ``soilbinn`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Ctrl-C (also while importing), refused outputs and OS errors naming a file end in one
    line on stderr; any other exception is a bug and keeps its traceback.
    """
    from soilbinn import interrupt
    from soilbinn.io import OutputError

    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt as exc:  # includes interrupt.Interrupted (saved state + resume)
        return interrupt.report(exc)
    except OutputError as exc:
        print(f"soilbinn: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        line = _os_error_line(exc)
        if line is None:
            raise
        print(f"soilbinn: error: {line}", file=sys.stderr)
        return 2


def _main(argv: list[str]) -> int:
    verb = next((a for a in argv if not a.startswith("-")), None)
    if verb not in COMMAND_MODULES:
        verb = None
    parser = build_parser(verb)
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 2
    args.command_argv = argv  # the words after `soilbinn`, for "rerun the same command"
    return int(_load(args.verb).run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
