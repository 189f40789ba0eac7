"""``mnistlab recipes`` and ``mnistlab reproduce [NAMES]``."""

from __future__ import annotations

import argparse
import shlex
import sys

from mnistlab.cli.options import add_data_dir, add_device, print_table
from mnistlab.recipes import list_recipes, load_recipe
from mnistlab.recipes.reproduce import format_table, reproduce, save_report


def register(commands: argparse._SubParsersAction) -> None:
    commands.add_parser("recipes", help="the notebook experiments and the numbers they printed").set_defaults(handler=show_recipes)
    parser = commands.add_parser("reproduce", help="run recipes and compare with the notebooks' numbers")
    parser.add_argument("names", nargs="*", help="recipe names (default: every notebook recipe)")
    parser.add_argument("--table", default="runs/reproduction.md", help="Markdown table to write (default: %(default)s)")
    parser.add_argument("--runs-dir", default="runs/reproduce", help="where the recipes' runs go (default: %(default)s)")
    add_data_dir(parser)
    add_device(parser, default=None)
    parser.set_defaults(handler=run_reproduce)


def show_recipes(args: argparse.Namespace) -> int:
    rows = [
        [r.name, r.kind, r.config.dataset, r.config.model if isinstance(r.config.model, str) else "custom",
         "—" if r.expected_accuracy is None else f"{r.expected_accuracy:.4f}", r.description]
        for r in list_recipes()
    ]
    print_table(rows, ["recipe", "kind", "dataset", "model", "target", "description"])
    return 0


def run_reproduce(args: argparse.Namespace) -> int:
    recipes = [load_recipe(n) for n in args.names] if args.names else list_recipes(kind="notebook")
    results = reproduce(recipes, runs_dir=args.runs_dir, data_dir=args.data_dir, device=args.device)
    command = "mnistlab " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "mnistlab reproduce"
    path = save_report(results, args.table, command)
    print()
    print(format_table(results))
    print(f"\nTable written to {path}")
    return 0 if all(r.reproduced is not False for r in results) else 1
