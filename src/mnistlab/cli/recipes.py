"""``mnistlab recipes``, ``mnistlab reproduce [NAMES] [--notebook N] [--seeds N] [--keras]`` and
``mnistlab same-start RECIPE [--epochs N]``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mnistlab.cli.options import add_data_dir, add_device, print_table
from mnistlab.errors import MnistlabError
from mnistlab.recipes import Recipe, list_recipes, load_recipe, reference_accuracy, trained_recipes


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
    parser.add_argument("--keras", action="store_true",
                        help="also train the notebook's own Keras code with the same data and seeds (in its own environment, created on first use)")
    parser.add_argument("--fresh", action="store_true", help="retrain everything instead of reusing saved trainings")
    add_seed_options(parser, "runs/reproduction.md", "runs/reproduce")
    parser.set_defaults(handler=run_reproduce)
    parser = commands.add_parser(
        "accuracy",
        help="the best recipes over seeds, as an ensemble and with test-time augmentation, with calibration and "
             "abstention (writes docs/accuracy.md)",
        description="Train each best recipe once per seed (resuming what its results file holds), then measure every "
        "seed as trained and with test-time augmentation, the seeds as one ensemble, each model's calibration, and the "
        "abstention of the models chosen on the validation split; each measurement is kept as it is made, so a rerun "
        "resumes. Writes the Markdown report, which shows every best recipe its JSON twin holds (not only those named "
        "now), and the JSON twin.",
    )
    parser.add_argument("names", nargs="*", help="best recipes, by name or .toml path (default: every recipe of kind 'best')")
    add_seed_options(parser, "docs/accuracy.md", "runs/accuracy")
    parser.add_argument("--images", type=int, default=2000, help="abstention: images of each set (default: %(default)s)")
    parser.add_argument("--measure-again", nargs="?", const="all", choices=("all", "abstention"), metavar="all|abstention",
                        help="measure the named recipes' seeds again, as the code now measures, keeping their trainings: all of it "
                             "(the default: their decision rules, TTA runs and ensembles made again too), or the abstention alone (the "
                             "models it measures choose their decision rules again; what a change to the rule moves)")
    parser.set_defaults(handler=run_accuracy)
    parser = commands.add_parser(
        "same-start",
        help="train a recipe with mnistlab and with its notebook's Keras code from the same weights on the same batches",
        description="Both sides start from the Keras model's initial weights and train on the same batches, in the same "
        "order, for --epochs epochs (no early stopping); the running loss after every step is compared. Where the two "
        "compute the same, the losses agree for hundreds of steps until float rounding parts them; a difference in a "
        "loss, an optimizer or an initializer shows in the first steps. Dense recipes only (no dropout or augmentation, "
        "whose randomness the two do not share).",
    )
    parser.add_argument("recipe", help="a dense notebook recipe, such as 004-fashion-mlp")
    parser.add_argument("--epochs", type=int, default=1, help="epochs on both sides (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the Keras initial weights and the batch orders (default: %(default)s)")
    parser.add_argument("--out", help="folder for the weights, orders and same-start.json (default: runs/same-start/RECIPE-seed-S)")
    parser.add_argument("--table", default="runs/reproduction.md",
                        help="the reproduction report to add the comparison to, rewritten from its JSON twin (default: %(default)s)")
    add_data_dir(parser)
    parser.set_defaults(handler=run_same_start)


def add_seed_options(parser: argparse.ArgumentParser, table: str, runs_dir: str) -> None:
    """The options of a command that trains recipes over seeds, resumably (reproduce, accuracy)."""
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per recipe (default: %(default)s)")
    parser.add_argument("--no-train", dest="train", action="store_false",
                        help="train nothing: write the report from the trainings already saved (a long run's progress so far)")
    parser.add_argument("--table", default=table, help="Markdown report to write; its .json twin holds every training (default: %(default)s)")
    parser.add_argument("--runs-dir", default=runs_dir, help="where the runs go, RUNS_DIR/<recipe>/seed-<n> (default: %(default)s)")
    parser.add_argument("--epochs", type=int, help="a quick try: at most this many epochs for every recipe")
    parser.add_argument("--limit", type=int, help="a quick try: train on the first N training images only")
    add_data_dir(parser)
    add_device(parser, default=None)


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
    from mnistlab.device import this_machine
    from mnistlab.recipes.reproduce import default_keras_side, reproduce
    from mnistlab.recipes.reproduction_report import recipe_verdict, save_report, text_report, total_seconds

    if args.seeds < 1:
        raise MnistlabError(f"--seeds must be a positive integer, got {args.seeds}")
    if args.fresh and not args.train:
        raise MnistlabError("--fresh discards the saved trainings and --no-train trains none: give one of them")
    asked = chosen_recipes(args.names, args.notebook)
    table = Path(args.table)
    command = args.command_line
    machine = this_machine()
    started = time.perf_counter()
    done = reproduce(
        asked, list(range(args.seeds)), table.with_suffix(".json"), Path(args.runs_dir), data_dir=args.data_dir,
        device=args.device, keras=default_keras_side() if args.keras else None, fresh=args.fresh,
        epochs=args.epochs, limit=args.limit, header={"command": command, "machine": machine}, train=args.train,
    )
    if not args.train:  # the report describes the run that made the trainings
        command, machine = done.store.saved_header.get("command", command), done.store.saved_header.get("machine", machine)
    shown = done.with_saved(asked, chosen_recipes([], None))
    save_report(done, shown, table, command, machine)
    trained = trained_recipes(shown)
    print()
    print(text_report(done, asked))
    print(f"\nTrained now: ours {done.seconds_now['mnistlab'] / 60:.1f} min, Keras {done.seconds_now['keras'] / 60:.1f} min "
          f"({(time.perf_counter() - started) / 60:.1f} min of wall time). In all, over every seed in the table: "
          f"ours {total_seconds(done, trained, 'mnistlab') / 60:.1f} min, Keras {total_seconds(done, trained, 'keras') / 60:.1f} min.")
    print(f"Report written to {table}, every training to {table.with_suffix('.json')}")
    failed = [r.name for r in done.recipes if recipe_verdict(done, r).startswith("**no**")]
    return 1 if failed else 0


def run_accuracy(args: argparse.Namespace) -> int:
    from mnistlab.atomic import write_text
    from mnistlab.device import this_machine
    from mnistlab.recipes.accuracy import frontier
    from mnistlab.recipes.accuracy_report import markdown_report, summary_rows
    from mnistlab.recipes.reproduce import reproduce

    if args.seeds < 1 or args.images < 10:
        raise MnistlabError(f"--seeds must be a positive integer and --images at least 10, got {args.seeds} and {args.images}")
    asked = [load_recipe(n) for n in args.names] or list_recipes("best")
    for recipe in asked:
        if recipe.config is None or not isinstance(recipe.config.validation, float) or recipe.config.split_seed is None:
            raise MnistlabError(f"{recipe.name} does not hold out one validation split for all its seeds, and every choice "
                                "here is made on one; give its [train] validation = 0.1 and split_seed = 0")
    table = Path(args.table)
    command, machine = args.command_line, this_machine()
    done = reproduce(asked, list(range(args.seeds)), table.with_suffix(".json"), Path(args.runs_dir), data_dir=args.data_dir,
                     device=args.device, epochs=args.epochs, limit=args.limit, header={"command": command, "machine": machine},
                     train=args.train)
    if not args.train:
        command, machine = done.store.saved_header.get("command", command), done.store.saved_header.get("machine", machine)
    shown = done.with_saved(asked, list_recipes("best"))
    again = {r.name: args.measure_again for r in asked}
    measured = {r.name: frontier(done, r, Path(args.runs_dir), args.data_dir, args.images, again=again.get(r.name)) for r in shown}
    write_text(table, markdown_report(shown, measured, command, machine))
    for recipe in asked:
        if measured[recipe.name]["seeds"]:
            print(f"\n{recipe.name}")
            print_table([row[:4] + row[5:] for row in summary_rows(recipe, measured[recipe.name])],
                        ["model", "chosen", "validation accuracy", "test accuracy", "target reached"])
    print(f"\nReport written to {table}, every number to {table.with_suffix('.json')}")
    return 0


def run_same_start(args: argparse.Namespace) -> int:
    from mnistlab.recipes.reproduce import TrialStore, default_keras_side, reproduce
    from mnistlab.recipes.reproduction_report import save_report
    from mnistlab.recipes.same_start import AGREEMENT, comparable, same_start

    recipe = load_recipe(args.recipe)
    comparable(recipe)  # before the Keras environment is set up
    folder = Path(args.out or f"runs/same-start/{recipe.name}-seed-{args.seed}")
    result = same_start(recipe, args.epochs, args.seed, default_keras_side(), folder, args.data_dir)
    summary = result.summary()
    print(f"{recipe.name}, seed {args.seed}: {summary['steps']} steps from the same weights on the same batches")
    print(f"The running losses agree within {AGREEMENT:g} (relative) for the first {summary['steps_agreeing']} steps; "
          f"largest gap over the first 100 steps {summary['largest_gap_first_100']:.1e}, over all {result.relative_gaps.max():.1e}.")
    rows = [[str(e + 1), f"{o:.4f}", f"{k:.4f}"] for e, (o, k) in enumerate(zip(result.epoch_losses(result.ours), result.epoch_losses(result.keras)))]
    print_table(rows, ["epoch", "train loss, mnistlab", "train loss, Keras"])
    (loss_ours, acc_ours), (loss_keras, acc_keras) = result.test_ours, result.test_keras
    print(f"Test after epoch {args.epochs}: mnistlab {acc_ours:.4f} (loss {loss_ours:.4f}), Keras {acc_keras:.4f} (loss {loss_keras:.4f})")
    table = Path(args.table)
    store = TrialStore(table.with_suffix(".json"), {})
    store.header = store.saved_header
    store.add_same_start(summary)
    seeds = sorted({t.seed for t in store.trials}) or [args.seed]
    asked = chosen_recipes([], None)
    done = reproduce(asked, seeds, store.path, Path("runs/reproduce"), train=False)
    save_report(done, asked, table, store.header.get("command", "mnistlab reproduce"), store.header.get("machine", "this machine"))
    print(f"Every step's losses: {folder / 'same-start.json'}; the comparison is added to {table}")
    return 0
