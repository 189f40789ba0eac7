"""``mnistlab predict``, ``mnistlab thresholds`` and ``mnistlab export``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from typing import TYPE_CHECKING

from mnistlab.cli.options import add_data_dir, add_tta, print_table
from mnistlab.config import ENGINES
from mnistlab.tables import csv_table, fixed

if TYPE_CHECKING:
    from mnistlab.prediction.predictor import Prediction


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("predict", help="read your own images with a saved run; says 'unsure' when it is")
    parser.add_argument("run", help="a run folder")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders, globs, IDX image files, or - for stdin")
    parser.add_argument("--no-prepare", action="store_true", help="feed images as they are (only resized), not prepared as the model's dataset was (MNIST's way for digits, Fashion-MNIST's for clothes)")
    parser.add_argument("--save-prepared", metavar="DIR", help="write the images the model actually saw")
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format (default: %(default)s)")
    parser.add_argument("--engine", choices=ENGINES, default="torch", help="inference engine (onnx needs `mnistlab export`)")
    parser.add_argument("--confidence", type=float, help="override the run's confidence threshold")
    parser.add_argument("--margin", type=float, help="override the run's top-two margin threshold")
    add_tta(parser)
    add_data_dir(parser)
    parser.set_defaults(handler=run_predict)

    thresholds = commands.add_parser("thresholds", help="risk-coverage curve and confidence thresholds for target accuracies")
    thresholds.add_argument("run", help="a run folder")
    add_data_dir(thresholds)
    thresholds.set_defaults(handler=run_thresholds)

    abstention = commands.add_parser("abstention", help="how well 'unsure' tells digits from Fashion-MNIST, letters and noise (AUROC, share answered)")
    abstention.add_argument("run", help="a run folder")
    abstention.add_argument("--images", type=int, default=2000, help="images of each set (default: %(default)s)")
    abstention.add_argument("--seed", type=int, default=0, help="seeds the sample, the letters and the noise (default: %(default)s)")
    add_data_dir(abstention)
    abstention.set_defaults(handler=run_abstention)

    export = commands.add_parser("export", help="export a run to ONNX")
    export.add_argument("run", help="a run folder")
    export.add_argument("--format", choices=("onnx",), default="onnx", help="export format (default: %(default)s)")
    export.add_argument("--out", help="output file (default: RUN/model.onnx)")
    export.set_defaults(handler=run_export)

    ensemble = commands.add_parser("ensemble", help="combine runs into one model (the mean of their probabilities), saved as a run folder")
    ensemble.add_argument("runs", nargs="+", metavar="RUN", help="run folders of one dataset")
    ensemble.add_argument("--out", required=True, help="the ensemble's run folder")
    ensemble.add_argument("--tta", action="store_true", help="each member also sees the image moved by one pixel each way")
    add_data_dir(ensemble)
    ensemble.set_defaults(handler=run_ensemble)


def _rows(predictions: list[Prediction]) -> list[list[str]]:
    return [
        [p.name, p.class_names[p.label], f"{p.confidence:.3f}", "unsure" if p.decision.unsure else "yes",
         ", ".join(f"{n} {v:.2f}" for n, v in p.top(3)), p.decision.reason]
        for p in predictions
    ]


HEADERS = ["input", "predicted", "confidence", "answer", "top 3", "reason"]


def run_predict(args: argparse.Namespace) -> int:
    from PIL import Image

    from mnistlab.atomic import write_with
    from mnistlab.prediction.images import gather_images
    from mnistlab.prediction.predictor import Predictor

    predictor = Predictor(args.run, engine=args.engine, prepare=not args.no_prepare, confidence=args.confidence, margin=args.margin,
                          tta=args.tta, data_dir=args.data_dir)
    predictions = predictor.predict(gather_images(args.inputs))
    if args.save_prepared:
        folder = Path(args.save_prepared)
        folder.mkdir(parents=True, exist_ok=True)
        for i, p in enumerate(predictions):
            stem = Path(p.name.replace("<", "").replace(">", "").replace("[", "-").replace("]", "")).stem
            image = Image.fromarray(p.prepared.pixels)
            write_with(folder / f"{i:04d}-{stem}.png", lambda tmp, image=image: image.save(tmp, format="PNG"))
    if args.format == "json":
        print(json.dumps([p.to_dict() for p in predictions], indent=2))
    elif args.format == "csv":
        print(csv_table(HEADERS, _rows(predictions)), end="")
    else:
        print_table(_rows(predictions), HEADERS)
    return 0


def run_thresholds(args: argparse.Namespace) -> int:
    from mnistlab.data.loaders import load_dataset
    from mnistlab.data.preprocess import prepare_images
    from mnistlab.prediction.calibrate import ensure_rule
    from mnistlab.prediction.engines import TorchEngine
    from mnistlab.runs.store import load_run
    from mnistlab.viz.thresholds import write_threshold_report

    run = load_run(args.run)
    dataset = load_dataset(run.config.dataset, args.data_dir)
    ensure_rule(run, dataset, mend=True)
    x = prepare_images(dataset.x_test, dataset.max_value, run.network.flat_input).numpy()
    probabilities, _ = TorchEngine(run.network).run(x)
    png, csv_path, rows = write_threshold_report(probabilities, dataset.y_test, run.path / "thresholds", f"{run.config.name}: risk-coverage on the test set")
    print_table(
        [[f"{r['target_accuracy']:.1%}", "unreachable" if r["threshold"] is None else f"{r['threshold']:.4f}", f"{r['coverage']:.1%}"] for r in rows],
        ["target accuracy", "confidence threshold", "answered"],
    )
    print(f"Written {png} and {csv_path}")
    return 0


def run_abstention(args: argparse.Namespace) -> int:
    from mnistlab.atomic import write_json
    from mnistlab.data.loaders import load_dataset
    from mnistlab.errors import MnistlabError
    from mnistlab.prediction.abstention import (
        ABSTENTION_FILE, ABSTENTION_HEADERS, LETTER_HEADERS, LETTERS_CAPTION, abstention_rows, fonts_sentence, hardest_letters, measure,
        other_dataset,
    )
    from mnistlab.runs.store import load_run
    from mnistlab.viz.report import write_report

    if args.images < 10:
        raise MnistlabError(f"--images must be at least 10, got {args.images}")
    run = load_run(args.run)
    dataset = load_dataset(run.config.dataset, args.data_dir)
    table = measure(run.path, dataset, load_dataset(other_dataset(run.config.dataset), args.data_dir), args.images, args.seed)
    print_table(abstention_rows(table), ABSTENTION_HEADERS)
    print(f"'answered SCORE': at the threshold keeping {table['keep_answered']:.0%} of the true images answered; 'combined': every check at its threshold. "
          + fonts_sentence(table))
    rows, others = hardest_letters(table)
    print(f"\n{LETTERS_CAPTION} {others}")
    print_table(rows, LETTER_HEADERS)
    write_json(run.path / ABSTENTION_FILE, table)
    print(f"Written {run.path / ABSTENTION_FILE}; the run's report shows it from now on:")
    write_report(run, dataset)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from mnistlab.prediction.export import export_onnx
    from mnistlab.runs.store import load_run

    run = load_run(args.run)
    path = export_onnx(run, args.out)
    print(f"ONNX model written to {path}")
    return 0


def run_ensemble(args: argparse.Namespace) -> int:
    from mnistlab.prediction.ensemble import make_ensemble
    from mnistlab.runs.store import load_run

    runs = [load_run(path) for path in args.runs]
    run = make_ensemble(runs, args.out, tta=args.tta, data_dir=args.data_dir)
    m = run.metrics
    members = ", ".join(fixed(a) for a in m["member_test_accuracy"])
    print(f"Ensemble of {len(runs)}{' with test-time augmentation' if args.tta else ''} saved to {run.path}")
    print(f"Test accuracy: {m['test_accuracy']:.4f} - test loss: {m['test_loss']:.4f} (members: {members})")
    return 0
