"""``mnistlab data list | info NAME | fetch NAME``."""

from __future__ import annotations

import argparse

from mnistlab.cli.options import add_data_dir, print_table
from mnistlab.data.registry import DIGITS_DESCRIPTION, IDX_DATASETS


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("data", help="list, describe and fetch datasets")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="the built-in datasets").set_defaults(handler=list_datasets)
    info = actions.add_parser("info", help="shapes, classes and counts of a dataset (built-in or a path)")
    info.add_argument("name", help="mnist, fashion-mnist, digits, or a folder / .csv / .npz")
    add_data_dir(info)
    info.set_defaults(handler=show_info)
    fetch = actions.add_parser("fetch", help="make sure a dataset's files are available locally (download if needed)")
    fetch.add_argument("name", choices=sorted(IDX_DATASETS), help="dataset to fetch")
    add_data_dir(fetch)
    fetch.set_defaults(handler=fetch_dataset)


def list_datasets(args: argparse.Namespace) -> int:
    rows = [[name, spec.description] for name, spec in IDX_DATASETS.items()]
    rows.append(["digits", DIGITS_DESCRIPTION])
    print_table(rows, ["name", "description"])
    return 0


def show_info(args: argparse.Namespace) -> int:
    from mnistlab.data.loaders import load_dataset

    facts = load_dataset(args.name, args.data_dir, show_progress=True).describe()
    print(f"{facts['name']}  (from {facts['source']})")
    print(f"  train: {facts['train']} images, test: {facts['test']} images, "
          f"{facts['image_shape'][0]}x{facts['image_shape'][1]} pixels, values 0..{facts['max_value']}")
    print_table(
        [[str(i), name, str(tr), str(te)] for i, (name, tr, te) in enumerate(zip(facts["classes"], facts["train_counts"], facts["test_counts"]))],
        ["label", "class", "train", "test"],
    )
    return 0


def fetch_dataset(args: argparse.Namespace) -> int:
    from mnistlab.data.sources import locate

    paths = locate(IDX_DATASETS[args.name], args.data_dir, show_progress=True)
    for path in paths.values():
        print(path)
    return 0
