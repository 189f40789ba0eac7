"""``mnistlab report RUN``: a saved run's figures and self-contained HTML report."""

from __future__ import annotations

import argparse

from mnistlab.cli.options import add_data_dir


def register(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="figures and a self-contained HTML report of a saved run")
    report.add_argument("run", help="a run folder")
    add_data_dir(report)
    report.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    from mnistlab.data.loaders import load_dataset
    from mnistlab.runs.store import load_run
    from mnistlab.viz.report import write_report

    run = load_run(args.run)
    write_report(run, load_dataset(run.config.dataset, args.data_dir))
    return 0
