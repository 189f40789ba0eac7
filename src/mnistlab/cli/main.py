"""``mnistlab``: the command line. This file only registers the subcommands and dispatches.

Every subcommand module has ``register(subparsers)`` that adds its parser with a
``handler(args) -> int``; handlers parse nothing themselves and call one API function.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from mnistlab import __version__
from mnistlab.cli import bench, compare, data, explore, models, notebook, predict, recipes, report, runs, serve, sweep, train
from mnistlab.cli.options import EXIT_INTERRUPTED, EXIT_USER_ERROR
from mnistlab.errors import MnistlabError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnistlab",
        description="Train, reproduce and compare the classic Keras MNIST notebooks' models.",
    )
    parser.add_argument("--version", action="version", version=f"mnistlab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (data, explore, models, train, runs, report, notebook, compare, recipes, sweep, predict, serve, bench):
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(sweep.with_default_subcommand(argv))
    args.command_line = "mnistlab " + shlex.join(argv)  # as typed, for the reports that record what made them
    try:
        return args.handler(args)
    except (MnistlabError, OSError) as exc:  # OSError: a file that cannot be read or written
        print(f"mnistlab: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("mnistlab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
