"""``mnistlab recipes`` and ``mnistlab reproduce [NAMES] [--notebook N] [--seeds N] [--keras]``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mnistlab.cli.options import add_data_dir, add_device, print_table
from mnistlab.errors import MnistlabError
from mnistlab.recipes import Recipe, list_recipes, load_recipe, reference_accuracy


def register(commands: argparse._SubParsersAction) -> None:
    commands.add_parser("recipes", help="the notebook experiments and the numbers they printed").set_defaults(handler=show_recipes)
    parser = commands.add_parser(
        "reproduce",
        help="run recipes over several seeds and compare with the notebooks' numbers (and Keras)",
        description="Train each recipe (an exercise: its members) once per seed and compare the test accuracy with the "
        "notebook's number. Every finished training is saved at once in the JSON twin of --table; running the same "
        "command again resumes, reusing the trainings already there.",
    )
    parser.add_argument("names", nargs="*", help="recipe names (default: every notebook recipe and exercise)")
    parser.add_argument("--notebook", help="only this seed notebook's recipes, by number: 000, 001, 002, 003 or 004")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per recipe (default: %(default)s)")
    parser.add_argument("--keras", action="store_true",
                        help="also train the notebook's own Keras code with the same data and seeds (in its own environment, created on first use)")
    parser.add_argument("--fresh", action="store_true", help="retrain everything instead of reusing saved trainings")
    parser.add_argument("--no-train", dest="train", action="store_false",
                        help="train nothing: write the report from the trainings already saved (a long run's progress so far)")
    parser.add_argument("--table", default="runs/reproduction.md", help="Markdown report to write; its .json twin holds every training (default: %(default)s)")
    parser.add_argument("--runs-dir", default="runs/reproduce", help="where our runs go, RUNS_DIR/<recipe>/seed-<n> (default: %(default)s)")
    parser.add_argument("--epochs", type=int, help="a quick try: at most this many epochs for every recipe")
    parser.add_argument("--limit", type=int, help="a quick try: train on the first N training images only")
    add_data_dir(parser)
    add_device(parser, default=None)
    parser.set_defaults(handler=run_reproduce)


def show_recipes(args: argparse.Namespace) -> int:
    rows = []
    for r in list_recipes():
        number, source = reference_accuracy(r)
        model = "—" if r.config is None else r.config.model if isinstance(r.config.model, str) else "custom"
        rows.append([r.name, r.kind, "—" if r.config is None else r.config.dataset, model,
                     "—" if number is None else f"{number:.4f} ({source})", r.description])
    print_table(rows, ["recipe", "kind", "dataset", "model", "notebook's number", "description"])
    return 0


def chosen_recipes(names: list[str], notebook: str | None) -> list[Recipe]:
    if names and notebook:
        raise MnistlabError("give recipe names or --notebook, not both")
    if names:
        return [load_recipe(n) for n in names]
    recipes = [r for r in list_recipes() if r.kind in ("notebook", "exercise")]
    if notebook is None:
        return recipes
    chosen = [r for r in recipes if r.notebook_number == notebook]
    if not chosen:
        numbers = sorted({r.notebook_number for r in recipes})
        raise MnistlabError(f"no recipes come from notebook '{notebook}'; choose one of {', '.join(numbers)}")
    return chosen


def run_reproduce(args: argparse.Namespace) -> int:
    import torch

    from mnistlab.device import cpu_name
    from mnistlab.recipes.reproduce import default_keras_side, reproduce
    from mnistlab.recipes.reproduction_report import save_report, spread, text_report, total_seconds, verdict

    if args.seeds < 1:
        raise MnistlabError(f"--seeds must be a positive integer, got {args.seeds}")
    if args.fresh and not args.train:
        raise MnistlabError("--fresh discards the saved trainings and --no-train trains none: give one of them")
    asked = chosen_recipes(args.names, args.notebook)
    table = Path(args.table)
    command = args.command_line
    machine = f"{cpu_name()} ({torch.get_num_threads()} threads), torch {torch.__version__}"
    started = time.perf_counter()
    done = reproduce(
        asked, list(range(args.seeds)), table.with_suffix(".json"), Path(args.runs_dir), data_dir=args.data_dir,
        device=args.device, keras=default_keras_side() if args.keras else None, fresh=args.fresh,
        epochs=args.epochs, limit=args.limit, header={"command": command, "machine": machine}, train=args.train,
    )
    if not args.train:  # the report describes the run that made the trainings
        command, machine = done.store.saved_header.get("command", command), done.store.saved_header.get("machine", machine)
    save_report(done, asked, table, command, machine)
    print()
    print(text_report(done, asked))
    print(f"\nTrained now: ours {done.seconds_now['mnistlab'] / 60:.1f} min, Keras {done.seconds_now['keras'] / 60:.1f} min "
          f"({(time.perf_counter() - started) / 60:.1f} min of wall time). In all, over every seed in the table: "
          f"ours {total_seconds(done, 'mnistlab') / 60:.1f} min, Keras {total_seconds(done, 'keras') / 60:.1f} min.")
    print(f"Report written to {table}, every training to {table.with_suffix('.json')}")
    failed = [r.name for r in done.recipes if verdict(reference_accuracy(r)[0], spread(done.trials(r, "mnistlab"), "test_accuracy")) == "**no**"]
    return 1 if failed else 0
