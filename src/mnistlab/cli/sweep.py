"""``mnistlab sweep RECIPE``, ``mnistlab sweep worker``, ``mnistlab sweep report``: searches on Optuna."""

from __future__ import annotations

import argparse
from pathlib import Path

from mnistlab.cli.options import add_data_dir, print_table
from mnistlab.errors import MnistlabError

SUBCOMMANDS = ("run", "worker", "report")
STORAGE_HELP = ("where the study lives: a journal file (default: SWEEPS_DIR/STUDY/journal.log, for one machine) "
                "or a database URL such as postgresql://user@host/db (for many)")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "sweep", help="search settings with Optuna, across processes and machines",
        description="Search a recipe's [sweep] space with Optuna (TPE, or a grid when every parameter is a choice). "
        "`mnistlab sweep RECIPE` runs it here; `sweep worker` joins it from another machine; `sweep report` reports it.",
    )
    subcommands = parser.add_subparsers(dest="sweep_command", metavar="{RECIPE,worker,report}", required=True)
    run = subcommands.add_parser("run", help="start or resume a sweep and run it (the default: `mnistlab sweep RECIPE`)")
    run.add_argument("recipe", nargs="?", help="a recipe name or .toml path with a [sweep] table (omit to resume --study)")
    run.add_argument("--trials", type=int, help="finish this many trials, completed or pruned (default: the [sweep] table's, the grid's size, or 20)")
    run.add_argument("--workers", type=int, default=1, help="worker processes on this machine, each with cores/workers threads (default: %(default)s)")
    run.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    _common(run)
    run.set_defaults(handler=run_sweep_command)
    worker = subcommands.add_parser("worker", help="join a sweep: run its trials until it has finished the trials asked for")
    worker.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    _common(worker, study_required=True)
    worker.set_defaults(handler=run_worker)
    report = subcommands.add_parser("report", help="the table of trials, the best recipe (tested once), Optuna's plots in report.html")
    report.add_argument("study", help="the sweep's study name")
    _common(report, with_study=False)
    report.set_defaults(handler=run_report)


def _common(parser: argparse.ArgumentParser, study_required: bool = False, with_study: bool = True) -> None:
    if with_study:
        parser.add_argument("--study", required=study_required, help="the study's name (default: the recipe's name)")
    parser.add_argument("--storage", help=STORAGE_HELP)
    parser.add_argument("--sweeps-dir", default="sweeps", help="where sweep folders go: SWEEPS_DIR/STUDY/trials/NNNN (default: %(default)s)")
    parser.add_argument("--heartbeat", type=int, default=10,
                        help="seconds between a running trial's heartbeats; one silent for 3 of them is failed and retried (default: %(default)s)")
    add_data_dir(parser)


def with_default_subcommand(argv: list[str]) -> list[str]:
    """``sweep RECIPE ...`` means ``sweep run RECIPE ...``."""
    if len(argv) >= 2 and argv[0] == "sweep" and argv[1] not in (*SUBCOMMANDS, "-h", "--help"):
        return ["sweep", "run", *argv[1:]]
    return argv


def run_sweep_command(args: argparse.Namespace) -> int:
    from mnistlab.sweeps import run_sweep

    done = run_sweep(args.recipe, args.study, args.trials, args.workers, args.timeout, args.storage,
                     args.sweeps_dir, args.heartbeat, args.data_dir)
    print_table(done.rows, done.headers)
    return 0


def run_worker(args: argparse.Namespace) -> int:
    from mnistlab.sweeps.study import open_storage, work

    storage = open_storage(args.storage, Path(args.sweeps_dir) / args.study, args.heartbeat)
    ran = work(args.study, storage, Path(args.sweeps_dir), args.data_dir, args.timeout)
    print(f"worker done: {ran} trial(s) run here")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from mnistlab.sweeps.report import report
    from mnistlab.sweeps.study import load_sweep, open_storage

    folder = Path(args.sweeps_dir) / args.study
    if args.storage is None and not (folder / "journal.log").is_file():
        raise MnistlabError(f"no sweep '{args.study}' under {args.sweeps_dir} (no {folder / 'journal.log'}); give --sweeps-dir or --storage")
    study, _, _ = load_sweep(args.study, open_storage(args.storage, folder, args.heartbeat))
    done = report(study, folder, args.data_dir)
    print_table(done.rows, done.headers)
    print(done.summary)
    print(f"Report: {done.page}" + (f"; best recipe: {done.recipe}" if done.recipe else ""))
    return 0
