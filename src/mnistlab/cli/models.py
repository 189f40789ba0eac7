"""``mnistlab models`` and ``mnistlab summary NAME``."""

from __future__ import annotations

import argparse

from mnistlab.cli.options import print_table
from mnistlab.errors import MnistlabError
from mnistlab.models.zoo import ZOO


def register(commands: argparse._SubParsersAction) -> None:
    commands.add_parser("models", help="the notebooks' models with their parameter counts").set_defaults(handler=list_models)
    parser = commands.add_parser("summary", help="a Keras-style summary of a model")
    parser.add_argument("name", help="a model name from `mnistlab models`")
    parser.add_argument("--input", default="28x28", help="image size HxW (default: %(default)s; 8x8 for digits)")
    parser.add_argument("--classes", type=int, default=10, help="number of classes (default: %(default)s)")
    parser.set_defaults(handler=show_summary)


def list_models(args: argparse.Namespace) -> int:
    rows = [[name, f"{m.params:,}", m.description] for name, m in ZOO.items()]
    print_table(rows, ["name", "params (28x28)", "description"])
    return 0


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise MnistlabError(f"--input must look like 28x28, got '{text}'") from None
    return h, w


def show_summary(args: argparse.Namespace) -> int:
    from mnistlab.models.summary import summary
    from mnistlab.models.zoo import build_model

    print(summary(build_model(args.name, _size(args.input), args.classes), name=args.name))
    return 0
