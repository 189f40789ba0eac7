"""``mnistlab train [RECIPE] [--flag value ...]``: train a recipe, a saved config, or flags alone.

The settings' flags are made from ``TrainConfig``'s fields (their help and allowed values
included), so a setting is declared once, in ``config.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from mnistlab.cli.options import EXIT_INTERRUPTED, add_data_dir
from mnistlab.config import (
    DEVICES, EARLY_STOPPING_DEFAULTS, MONITORS, OPTIMIZER_DEFAULTS, PRECISIONS, SCHEDULES, SPEEDUP_DEFAULTS, TrainConfig, merge,
)
from mnistlab.errors import MnistlabError

CHOICES = {"optimizer": tuple(OPTIMIZER_DEFAULTS), "schedule": SCHEDULES, "device": DEVICES, "precision": PRECISIONS}


def flag_type(annotation: str) -> type | None:
    """The argparse type for a field annotated ``annotation``: int, float, or None (kept a string)."""
    if "str" in annotation:
        return None
    return float if "float" in annotation else int if "int" in annotation else None


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="train a model and save the run",
        description="Train a recipe (see `mnistlab recipes`), a saved run's config.json, or the defaults "
        "(the notebook CNN on MNIST); flags override single settings.",
    )
    parser.add_argument("recipe", nargs="?", help="a recipe name or .toml path")
    parser.add_argument("--config", help="a run's config.json, to replay that run")
    defaults = TrainConfig()
    for setting in fields(TrainConfig):
        if setting.metadata["flag"]:
            default = getattr(defaults, setting.name)
            shown = "" if default in ("", None) else f" (default: {default})"
            parser.add_argument(f"--{setting.name.replace('_', '-')}", type=flag_type(str(setting.type)), choices=CHOICES.get(setting.name),
                                help=setting.metadata["help"] + shown)
    parser.add_argument("--augment", action="store_true", help="notebook 003's on-the-fly augmentation (rotation 8, shifts 0.08, shear 0.3, zoom 0.08)")
    parser.add_argument("--outliers", action="store_true", help="outlier exposure: each batch also shows scribbles (a quarter of its size) "
                        "and teaches the network to be unsure of them")
    parser.add_argument("--patience", type=int, help="early stopping: epochs without improvement before stopping")
    parser.add_argument("--monitor", choices=MONITORS, help=f"early stopping: what to watch (default: {EARLY_STOPPING_DEFAULTS['monitor']})")
    parser.add_argument("--restore-best", action="store_true", help="early stopping: end with the best epoch's weights")
    parser.add_argument("--no-speedup", action="append", choices=tuple(SPEEDUP_DEFAULTS), metavar="NAME",
                        help=f"switch a CPU speed-up off (repeatable): {', '.join(SPEEDUP_DEFAULTS)}")
    parser.add_argument("--out", help="run folder to write (default: RUNS_DIR/<time>-<name>)")
    parser.add_argument("--runs-dir", default="runs", help="where new run folders go (default: %(default)s)")
    parser.add_argument("--nproc", type=int, help="train data-parallel in N processes on this machine, launched through torchrun "
                        "(the same global batch and steps as one process; rank 0 writes the run)")
    parser.add_argument("--quiet", action="store_true", help="print only the final line")
    add_data_dir(parser)
    parser.set_defaults(handler=run_training)


def base_config(args: argparse.Namespace) -> TrainConfig:
    from mnistlab.recipes import RENAMED, load_recipe, trainable

    if args.recipe and args.config:
        raise MnistlabError("give a recipe or --config, not both")
    if args.recipe:
        if args.recipe in RENAMED:
            print(f"note: recipe {args.recipe} is now called {RENAMED[args.recipe]}", file=sys.stderr)
        return trainable(load_recipe(args.recipe))
    if args.config:
        try:
            values = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise MnistlabError(f"cannot read --config {args.config} ({exc})") from None
        return TrainConfig.from_dict(values, where=args.config)
    return TrainConfig()


def launch_with_torchrun(args: argparse.Namespace) -> int:
    """Run this same command in ``--nproc`` processes under torchrun, each with its share of the cores."""
    import os
    import shlex
    import subprocess

    from mnistlab.threads import THREADS_VARIABLE, share

    argv = shlex.split(args.command_line)[1:]
    at = next(i for i, word in enumerate(argv) if word == "--nproc" or word.startswith("--nproc="))
    del argv[at : at + (1 if "=" in argv[at] else 2)]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={args.nproc}", "-m", "mnistlab", *argv]
    env = {**os.environ, THREADS_VARIABLE: os.environ.get(THREADS_VARIABLE) or str(share(args.nproc))}
    return subprocess.run(command, env=env).returncode


def run_training(args: argparse.Namespace) -> int:
    import os

    from mnistlab.workflow import train_and_report
    from mnistlab.training.distributed import is_main_process, leave_group
    from mnistlab.training.progress import Progress

    if args.nproc is not None and args.nproc < 1:
        raise MnistlabError(f"--nproc must be a positive number of processes, got {args.nproc}")
    if args.nproc and args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return launch_with_torchrun(args)

    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.metadata["flag"]}
    if args.augment:
        overrides["augment"] = {}
    if args.outliers:
        overrides["outliers"] = {}
    if args.patience is None and (args.restore_best or args.monitor is not None):
        raise MnistlabError("--monitor and --restore-best configure early stopping: give --patience N too")
    if args.patience is not None:
        stopping = {"patience": args.patience, "restore_best_weights": args.restore_best}
        overrides["early_stopping"] = stopping | ({"monitor": args.monitor} if args.monitor else {})
    if args.no_speedup:
        overrides["speedups"] = dict.fromkeys(args.no_speedup, False)
    config = merge(base_config(args), overrides)
    progress = Progress(quiet=args.quiet)
    try:
        run = train_and_report(config, data_dir=args.data_dir, out=args.out, runs_dir=args.runs_dir, progress=progress)
        main = is_main_process()
    finally:
        leave_group()
    if not main:  # under torchrun, rank 0 speaks for the run
        return 0
    if args.quiet:
        print(f"Test accuracy: {run.metrics['test_accuracy']:.4f} - run saved to {run.path}")
    return EXIT_INTERRUPTED if run.metrics["status"] == "interrupted" else 0
