"""The report of one run: its figures as PNGs and one self-contained HTML page holding everything."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from mnistlab.atomic import write_json, write_text
from mnistlab.data.dataset import Dataset
from mnistlab.evaluation.analysis import Analysis, analyze
from mnistlab.models.summary import summary
from mnistlab.runs.store import HISTORY_COLUMNS, Run
from mnistlab.viz import html
from mnistlab.viz.canvas import save_png
from mnistlab.viz.run_figures import confidence_histogram, confusion, curves, gallery
from mnistlab.tables import fixed

REPORT_FIGURES = ("curves.png", "confusion.png", "correct.png", "mistakes.png", "confidence.png")
GALLERY_SIZE = 32


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("—" if value is None else str(value))


def write_figures(run: Run, analysis: Analysis, max_value: int, folder: Path, progress: Callable[[str], None]) -> dict[str, Path]:
    """Write the run's PNGs into ``folder``."""
    best = run.metrics.get("best_epoch") if run.metrics.get("restored_best_weights") else None
    makers = {
        "curves.png": lambda: curves(run.history, best, title=f"{run.config.name}: training curves"),
        "confusion.png": lambda: confusion(analysis),
        "correct.png": lambda: gallery(analysis, analysis.confident_correct(GALLERY_SIZE), f"Correct predictions ({GALLERY_SIZE} at random)", max_value),
        "mistakes.png": lambda: gallery(analysis, analysis.worst_mistakes(GALLERY_SIZE), "Worst mistakes, highest loss first", max_value),
        "confidence.png": lambda: confidence_histogram(analysis),
    }
    paths = {}
    for i, (name, make) in enumerate(makers.items(), 1):
        progress(f"  report [{i}/{len(makers)}] {name}")
        paths[name] = save_png(make(), folder / name)
    return paths


def render_html(run: Run, analysis: Analysis, figures: dict[str, Path]) -> str:
    m = run.metrics
    per_class = analysis.per_class()
    status = m["status"] + (f", best epoch {m['best_epoch']} restored" if m.get("restored_best_weights") else "")
    body = [
        html.cards([
            ("test accuracy", fixed(m['test_accuracy'])),
            ("test loss", fixed(m['test_loss'])),
            ("train accuracy", f"{m['train_accuracy']:.4f}"),
            ("parameters", f"{m['params']:,}"),
            ("epochs", str(m["epochs_run"])),
            ("seconds", f"{m['seconds']:.1f}"),
        ]),
        html.section("curves", "Loss and accuracy", html.figure_img(figures["curves.png"], "training curves")),
        html.section("confusion", "Confusion matrix", html.figure_img(figures["confusion.png"], "confusion matrix")),
        html.section(
            "per-class", "Per-class precision, recall and F1",
            html.table(["class", "precision", "recall", "F1", "support"],
                       [[r["class"], _fmt(r["precision"]), _fmt(r["recall"]), _fmt(r["f1"]), r["support"]] for r in per_class]),
        ),
        html.section(
            "confused-pairs", "Most confused pairs",
            html.table(["true class", "predicted as", "mistakes"], [[p["true"], p["predicted"], p["count"]] for p in analysis.most_confused()]),
        ),
        html.section("mistakes", "Worst mistakes", html.figure_img(figures["mistakes.png"], "worst mistakes gallery")),
        html.section("correct", "Correct predictions", html.figure_img(figures["correct.png"], "correct predictions gallery")),
        html.section("confidence", "Confidence", html.figure_img(figures["confidence.png"], "confidence histogram")),
        html.section("model", "Model", html.pre(summary(run.network, name=str(run.config.model if isinstance(run.config.model, str) else "custom")))),
        html.section(
            "history", "History",
            html.table(list(HISTORY_COLUMNS), [[_fmt(row.get(k)) for k in HISTORY_COLUMNS] for row in run.history], scroll=True),
        ),
        html.section("metrics", "Metrics", html.pre(json.dumps(m, indent=2))),
        html.section("config", "Config", html.pre(json.dumps(run.config.to_dict(), indent=2))),
    ]
    subtitle = f"{m['dataset']['name']} · {status} · {m['device']} · {run.path}"
    return html.page(f"mnistlab run report: {run.config.name}", subtitle, body)


def write_report(run: Run, dataset: Dataset, progress: Callable[[str], None] = print) -> Path:
    """Write ``RUN/report/*.png``, ``RUN/report/analysis.json`` and ``RUN/report.html``; return the HTML path."""
    folder = run.path / "report"
    analysis = analyze(run.network, dataset)
    figures = write_figures(run, analysis, dataset.max_value, folder, progress)
    write_json(folder / "analysis.json", {
        "accuracy": analysis.accuracy,
        "per_class": analysis.per_class(),
        "most_confused": analysis.most_confused(),
        "confusion": analysis.confusion().tolist(),
    })
    path = run.path / "report.html"
    write_text(path, render_html(run, analysis, figures))
    progress(f"Report written to {path}")
    return path
