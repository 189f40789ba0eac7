"""``mnistlab train [RECIPE] [--flag value ...]``: train a recipe, a saved config, or flags alone."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mnistlab.cli.options import add_data_dir
from mnistlab.config import PRECISIONS, TrainConfig, merge
from mnistlab.errors import MnistlabError
from mnistlab.experiment import train
from mnistlab.recipes import RENAMED, load_recipe, trainable
from mnistlab.training.optimizers import OPTIMIZERS
from mnistlab.training.progress import Progress


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="train a model and save the run",
        description="Train a recipe (see `mnistlab recipes`), a saved run's config.json, or the defaults "
        "(the notebook CNN on MNIST); flags override single settings.",
    )
    parser.add_argument("recipe", nargs="?", help="a recipe name or .toml path")
    parser.add_argument("--config", help="a run's config.json, to replay that run")
    parser.add_argument("--name", help="run name (names the run folder)")
    parser.add_argument("--dataset", help="mnist, fashion-mnist, digits, or a folder / .csv / .npz")
    parser.add_argument("--model", help="a model name from `mnistlab models`")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), help="optimizer, with Keras defaults")
    parser.add_argument("--lr", type=float, help="learning rate (default: the optimizer's Keras default)")
    parser.add_argument("--batch-size", type=int, help="images per step")
    parser.add_argument("--epochs", type=int, help="passes over the training set")
    parser.add_argument("--validation", help="'test', 'none', or a held-out fraction of train such as 0.1")
    parser.add_argument("--seed", type=int, help="random seed (same seed + device = same history)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where to train (default: auto)")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="fp32, bf16 (autocast), or auto (the default): bf16 where it is faster (CNNs on CPUs with AMX, CUDA)")
    parser.add_argument("--limit", type=int, help="train on the first N training images only")
    parser.add_argument("--augment", action="store_true", default=None, help="the notebook's on-the-fly augmentation")
    parser.add_argument("--patience", type=int, help="early stopping: epochs without improvement before stopping")
    parser.add_argument("--monitor", default="val_loss", help="early stopping: loss, accuracy, val_loss or val_accuracy")
    parser.add_argument("--restore-best", action="store_true", help="early stopping: end with the best epoch's weights")
    parser.add_argument("--out", help="run folder to write (default: RUNS_DIR/<time>-<name>)")
    parser.add_argument("--runs-dir", default="runs", help="where new run folders go (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="print only the final line")
    add_data_dir(parser)
    parser.set_defaults(handler=run_training)


def base_config(args: argparse.Namespace) -> TrainConfig:
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
    return TrainConfig(name="cnn")


def run_training(args: argparse.Namespace) -> int:
    overrides = {
        key: getattr(args, key)
        for key in ("name", "dataset", "model", "optimizer", "lr", "batch_size", "epochs", "validation", "seed", "device", "precision", "limit")
    }
    if args.augment:
        overrides["augment"] = {}
    if args.patience is None and (args.restore_best or args.monitor != "val_loss"):
        raise MnistlabError("--monitor and --restore-best configure early stopping: give --patience N too")
    if args.patience is not None:
        overrides["early_stopping"] = {"monitor": args.monitor, "patience": args.patience, "restore_best_weights": args.restore_best}
    config = merge(base_config(args), overrides)
    progress = Progress(quiet=args.quiet)
    run = train(config, data_dir=args.data_dir, out=args.out, runs_dir=args.runs_dir, progress=progress)
    if args.quiet:
        print(f"Test accuracy: {run.metrics['test_accuracy']:.4f} - run saved to {run.path}")
    return 0
