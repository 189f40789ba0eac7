"""``mnistlab explore DATASET``: facts and pictures of a dataset."""

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
