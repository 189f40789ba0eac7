"""``mnistlab notebook RUN_OR_RECIPE``: write a runnable .ipynb that does what the seed notebooks do, with this run's settings."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("notebook", help="write a runnable notebook (.ipynb) of a run or recipe: load, look, build, fit, evaluate, plot, predict")
    parser.add_argument("target", metavar="RUN_OR_RECIPE", help="a run folder, or a recipe name or .toml path")
    parser.add_argument("--out", help="the notebook file to write (default: NAME.ipynb in the current folder)")
    parser.set_defaults(handler=run_notebook)


def run_notebook(args: argparse.Namespace) -> int:
    from mnistlab.notebook.write import write_notebook

    path = write_notebook(args.target, args.out)
    print(f"Notebook written to {path}; open it with `jupyter lab {path}` (pip install 'mnistlab[jupyter]')")
    return 0
