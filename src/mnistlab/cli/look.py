"""``mnistlab explore DATASET``, ``mnistlab report RUN`` and ``mnistlab compare RUN RUN...``."""

from __future__ import annotations

import argparse
from pathlib import Path

from mnistlab.cli.options import add_data_dir, print_table
from mnistlab.errors import MnistlabError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("explore", help="facts and pictures of a dataset (grids, class balance, histograms, means)")
    parser.add_argument("dataset", help="mnist, fashion-mnist, digits, or a folder / .csv / .npz")
    parser.add_argument("--out", help="folder for the PNGs (default: explore/<dataset>)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random grids (default: %(default)s)")
    parser.add_argument("--grid", type=int, default=8, help="side of the random sample grid (default: %(default)s)")
    parser.add_argument("--index", type=int, default=0, help="training image printed as a pixel matrix (default: %(default)s)")
    add_data_dir(parser)
    parser.set_defaults(handler=run_explore)

    report = commands.add_parser("report", help="figures and a self-contained HTML report of a saved run")
    report.add_argument("run", help="a run folder")
    add_data_dir(report)
    report.set_defaults(handler=run_report)

    compare = commands.add_parser("compare", help="compare runs: table with the train-test gap, overlaid curves, HTML")
    compare.add_argument("runs", nargs="+", help="two or more run folders")
    compare.add_argument("--out", default="runs/comparison", help="folder for the table, figure and HTML (default: %(default)s)")
    compare.set_defaults(handler=run_compare)


def run_explore(args: argparse.Namespace) -> int:
    from mnistlab.data.loaders import load_dataset
    from mnistlab.viz.explore import dataset_facts, explore, matprint

    dataset = load_dataset(args.dataset, args.data_dir, show_progress=True)
    if not 0 <= args.index < len(dataset.x_train):
        raise MnistlabError(f"--index must lie in 0..{len(dataset.x_train) - 1}, got {args.index}")
    if args.grid < 1 or args.seed < 0:
        raise MnistlabError(f"--grid must be at least 1 and --seed at least 0, got {args.grid} and {args.seed}")
    facts = dataset_facts(dataset)
    print(f"{facts['name']} (from {facts['source']})")
    print(f"  train {tuple(facts['train_shape'])}, test {tuple(facts['test_shape'])}, dtype {facts['dtype']}, "
          f"values {facts['value_range'][0]}..{facts['value_range'][1]}, missing values: {facts['missing_values']}")
    rows = [
        [str(i), name, str(tr), str(te), f"{mean:.1f}"]
        for i, (name, tr, te, mean) in enumerate(zip(facts["classes"], facts["train_counts"], facts["test_counts"], facts["class_mean_intensity"]))
    ]
    print_table(rows, ["label", "class", "train", "test", "mean intensity"])
    label = dataset.class_names[dataset.y_train[args.index]]
    print(f"\nTraining image {args.index} ({label}) as pixel values:")
    print(matprint(dataset.x_train[args.index]))
    out = Path(args.out or Path("explore") / Path(dataset.name).name)
    print(f"\nWriting pictures to {out}/")
    explore(dataset, out, seed=args.seed, side=args.grid)
    return 0


def run_report(args: argparse.Namespace) -> int:
    from mnistlab.data.loaders import load_dataset
    from mnistlab.runs.store import load_run
    from mnistlab.viz.report import write_report

    run = load_run(args.run)
    write_report(run, load_dataset(run.config.dataset, args.data_dir))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from mnistlab.runs.store import load_run
    from mnistlab.viz.compare import write_comparison

    if len(args.runs) < 2:
        raise MnistlabError("compare needs at least two run folders")
    write_comparison([load_run(path) for path in args.runs], args.out)
    return 0
