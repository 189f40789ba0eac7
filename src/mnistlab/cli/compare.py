"""``mnistlab compare RUN RUN ...``: a table with the train-test gap, overlaid curves, an HTML page."""

from __future__ import annotations

import argparse

from mnistlab.errors import MnistlabError


def register(commands: argparse._SubParsersAction) -> None:
    compare = commands.add_parser("compare", help="compare runs: table with the train-test gap, overlaid curves, HTML")
    compare.add_argument("runs", nargs="+", help="two or more run folders")
    compare.add_argument("--out", default="runs/comparison", help="folder for the table, figure and HTML (default: %(default)s)")
    compare.set_defaults(handler=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    from mnistlab.runs.store import load_run
    from mnistlab.viz.compare import write_comparison

    if len(args.runs) < 2:
        raise MnistlabError("compare needs at least two run folders")
    write_comparison([load_run(path) for path in args.runs], args.out)
    return 0
