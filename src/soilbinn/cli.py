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
    "synth": "soilbinn.data.commands",
    "demo": "soilbinn.training.commands",
    "train": "soilbinn.training.commands",
    "evaluate": "soilbinn.training.commands",
    "cv": "soilbinn.training.commands",
    "predict": "soilbinn.training.commands",
    "map": "soilbinn.training.commands",
    "proda": "soilbinn.proda.commands",
    "experiment": "soilbinn.experiments.commands",
    "report": "soilbinn.experiments.commands",
    "prepare": "soilbinn.inputs.commands",
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
    "proda": "PRODA: per-site adaptive Metropolis retrieval and its network step",
    "experiment": "the paper's experiments: recovery, compare, efficiency",
    "report": "an offline HTML report of one or more runs",
    "prepare": "prepare real observed profiles with derived forcing and covariates",
}


def _load(verb: str) -> Command:
    module = importlib.import_module(COMMAND_MODULES[verb])
    return module.COMMANDS[verb]


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
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = next((a for a in argv if not a.startswith("-")), None)
    if verb not in COMMAND_MODULES:
        verb = None
    parser = build_parser(verb)
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 2
    return int(_load(args.verb).run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
