"""``mnistlab evaluate RUN`` and ``mnistlab runs``."""

from __future__ import annotations

import argparse

from mnistlab.cli.options import add_data_dir, add_device, add_tta, print_table
from mnistlab.tables import fixed


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("evaluate", help="reload a saved run and evaluate it on its test set")
    parser.add_argument("run", help="a run folder")
    add_tta(parser, decides=False)
    add_data_dir(parser)
    add_device(parser)
    parser.set_defaults(handler=evaluate_run)
    listing = commands.add_parser("runs", help="list saved runs with their key numbers")
    listing.add_argument("--dir", default="runs", help="folder holding run folders (default: %(default)s)")
    listing.set_defaults(handler=show_runs)


def evaluate_run(args: argparse.Namespace) -> int:
    from mnistlab.evaluation.evaluate import evaluate

    result = evaluate(args.run, data_dir=args.data_dir, device=args.device, tta=args.tta)
    print(f"Test accuracy: {result['test_accuracy']:.4f} - test loss: {result['test_loss']:.4f} ({result['test']} images)")
    return 0


def show_runs(args: argparse.Namespace) -> int:
    from mnistlab.runs.store import list_runs

    found = list_runs(args.dir)
    if not found:
        print(f"no runs under {args.dir}; train one with `mnistlab train`")
        return 0
    rows = []
    for listing in found:
        m = listing.metrics
        if m is None:
            rows.append([str(listing.path), "—", "—", "—", "—", "—", "—", f"damaged: {listing.damage}"])
            continue
        rows.append([str(listing.path), m["dataset"]["name"], fixed(m['test_accuracy']), fixed(m['test_loss']),
                     f"{m['params']:,}", str(m["epochs_run"]), f"{m['seconds']:.1f}", m["status"]])
    print_table(rows, ["run", "dataset", "test acc", "test loss", "params", "epochs", "seconds", "status"])
    return 0
