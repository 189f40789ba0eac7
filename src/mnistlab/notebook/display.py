"""Rich displays for Jupyter: what a dataset, a model, a run, a comparison, a sweep and predictions show in a cell.

Each is small, self-contained HTML (inline PNG thumbnails and SVG charts, no network) made in
well under a second, apart from a run's first display, which predicts its test set once.
``register`` hands them to IPython by class name, so the classes below keep no tie to this layer.
"""

from __future__ import annotations

import base64
import io
from html import escape
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from mnistlab import svg
from mnistlab.data.dataset import Dataset
from mnistlab.data.loaders import load_dataset
from mnistlab.errors import MnistlabError
from mnistlab.evaluation.analysis import Analysis, analyze
from mnistlab.evaluation.compare import Comparison
from mnistlab.models.network import Network
from mnistlab.models.summary import SUMMARY_HEADERS, count_params, summary_rows
from mnistlab.prediction.predictor import Predictions
from mnistlab.runs.store import Run
from mnistlab.tables import fixed
from mnistlab.viz.html import table

if TYPE_CHECKING:  # a sweep's report needs Optuna; only its fields are read here
    from mnistlab.sweeps.report import SweepReport

STYLE = ("<style>.mnistlab table{border-collapse:collapse;font-size:12px;font-variant-numeric:tabular-nums}"
         ".mnistlab th,.mnistlab td{padding:2px 8px;border-bottom:1px solid #e3e6eb;text-align:right}"
         ".mnistlab th:first-child,.mnistlab td:first-child{text-align:left}.mnistlab h4{margin:10px 0 4px}"
         ".mnistlab figure{display:inline-block;margin:2px;text-align:center;font-size:10px}"
         ".mnistlab img{image-rendering:pixelated}</style>")
SAMPLES_PER_CLASS = 8
MISTAKES_SHOWN = 8
PREDICTIONS_SHOWN = 20
_ANALYSES: dict[tuple[str, int], tuple[Analysis, int]] = {}  # a run's test-set predictions and pixel scale, by folder and weights' time


def box(title: str, *parts: str) -> str:
    return f'{STYLE}<div class="mnistlab"><h4>{escape(title)}</h4>{"".join(parts)}</div>'


def png(pixels: np.ndarray, max_value: int, scale: int = 2) -> str:
    """An image (or a grid already tiled) as an <img>, ink dark on light as digits are drawn on paper."""
    gray = 255 - np.clip(pixels.astype(np.float32) * (255.0 / max_value), 0, 255).astype(np.uint8)
    image = Image.fromarray(gray).resize((gray.shape[1] * scale, gray.shape[0] * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return f'<img src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode("ascii")}">'


def tile(images: np.ndarray, cols: int) -> np.ndarray:
    """Images (N, H, W) laid out in rows of ``cols``, one pixel of background between them."""
    n, h, w = images.shape
    rows = -(-n // cols)
    grid = np.zeros((rows * (h + 1), cols * (w + 1)), dtype=images.dtype)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = image
    return grid


def dataset_html(dataset: Dataset) -> str:
    train_counts = np.bincount(dataset.y_train, minlength=dataset.num_classes)
    test_counts = np.bincount(dataset.y_test, minlength=dataset.num_classes)
    height, width = dataset.image_shape
    facts = table(["", ""], [["source", dataset.source or "—"], ["train images", f"{len(dataset.x_train):,}"],
                            ["test images", f"{len(dataset.x_test):,}"], ["image", f"{height}x{width}, values 0-{dataset.max_value}"],
                            ["classes", dataset.num_classes]])
    rows = []
    for c, name in enumerate(dataset.class_names):
        picks = np.flatnonzero(dataset.y_train == c)[:SAMPLES_PER_CLASS]
        sample = png(tile(dataset.x_train[picks], SAMPLES_PER_CLASS), dataset.max_value, scale=1 if height > 20 else 3) if len(picks) else ""
        rows.append(f"<tr><td>{escape(name)}</td><td>{train_counts[c]:,}</td><td>{test_counts[c]:,}</td><td>{sample}</td></tr>")
    classes = ("<table><thead><tr><th>class</th><th>train</th><th>test</th><th>first training images</th></tr></thead>"
               f"<tbody>{''.join(rows)}</tbody></table>")
    return box(f"Dataset {dataset.name}", facts, classes)


def network_html(network: Network) -> str:
    counts = count_params(network)
    totals = table(["", ""], [["Total params", f"{counts.total:,}"], ["Trainable params", f"{counts.trainable:,}"],
                             ["Non-trainable params", f"{counts.non_trainable:,}"]])
    return box("Model", table(SUMMARY_HEADERS, summary_rows(network)), totals)


def run_analysis(run: Run) -> tuple[Analysis, int]:
    """The run's test-set predictions and its images' largest value, computed once per run folder and weights."""
    key = (str(run.path.resolve()), (run.path / "model.safetensors").stat().st_mtime_ns)
    if key not in _ANALYSES:
        dataset = load_dataset(run.config.dataset)
        _ANALYSES[key] = analyze(run.network, dataset), dataset.max_value
    return _ANALYSES[key]


def confusion_html(analysis: Analysis) -> str:
    """The confusion matrix as a table, each cell shaded by its share of the true class."""
    counts, shares = analysis.confusion(), analysis.confusion(normalize=True)
    names = analysis.class_names
    head = "<th>true \\ predicted</th>" + "".join(f"<th>{escape(n[:6])}</th>" for n in names)
    body = []
    for i, name in enumerate(names):
        cells = "".join(
            f'<td style="background:rgba(36,88,198,{shares[i, j]:.2f});color:{"#fff" if shares[i, j] > 0.5 else "#000"}">{counts[i, j] or ""}</td>'
            for j in range(len(names)))
        body.append(f"<tr><td>{escape(name)}</td>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def thumbnails(images: list[tuple[np.ndarray, str]], max_value: int) -> str:
    return "".join(f"<figure>{png(image, max_value)}<figcaption>{escape(caption)}</figcaption></figure>" for image, caption in images)


def run_html(run: Run) -> str:
    m = run.metrics
    cards = table(["test accuracy", "test loss", "train accuracy", "parameters", "epochs", "seconds", "status"],
                  [[fixed(m.get("test_accuracy")), fixed(m.get("test_loss")), fixed(m.get("train_accuracy")), f"{m.get('params', 0):,}",
                    m.get("epochs_run", "—"), f"{m.get('seconds', 0):.1f}", m.get("status", "—")]])
    parts = [f"<div><code>{escape(str(run.path))}</code></div>", cards, "<h4>Curves</h4>", svg.curves(run.history)]
    try:
        analysis, max_value = run_analysis(run)
    except MnistlabError as exc:
        parts.append(f"<p>No confusion matrix: {escape(str(exc))}</p>")
    else:
        names = analysis.class_names
        worst = [(analysis.images[i], f"{names[analysis.predictions[i]]} (true {names[analysis.labels[i]]})")
                 for i in analysis.worst_mistakes(MISTAKES_SHOWN)]
        parts += ["<h4>Confusion matrix (test set)</h4>", confusion_html(analysis),
                  "<h4>Worst mistakes: predicted (true)</h4>", thumbnails(worst, max_value) or "<p>none</p>"]
    model = run.config.model if isinstance(run.config.model, str) else "custom model"
    return box(f"Run {run.config.name}: {model} on {run.config.dataset}", *parts)


def comparison_html(comparison: Comparison) -> str:
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    longest = max(comparison.runs, key=lambda r: len(r.history))
    epochs = [row["epoch"] for row in longest.history]
    metric = "val_accuracy" if any(row.get("val_accuracy") is not None for r in comparison.runs for row in r.history) else "accuracy"
    series = {run.path.name[-24:]: ([row.get(metric) for row in run.history] + [None] * (len(epochs) - len(run.history)), colors[i % len(colors)])
              for i, run in enumerate(comparison.runs)}
    chart = svg.panel(metric.replace("_", " "), series, epochs)
    return box(f"Comparison of {len(comparison.runs)} runs", table(comparison.headers, comparison.rows), chart)


def sweep_html(report: SweepReport) -> str:
    parts = [f"<p>{escape(report.summary)}</p>", table(report.headers, report.rows),
             f"<p>Page: <code>{escape(str(report.page))}</code>"
             + (f"; best recipe: <code>{escape(str(report.recipe))}</code>" if report.recipe else "") + "</p>"]
    return box("Sweep", *parts)


def predictions_html(predictions: Predictions) -> str:
    rows = []
    for p in predictions.items[:PREDICTIONS_SHOWN]:
        answer = "unsure" if p.decision.unsure else p.class_names[p.decision.label]
        top = ", ".join(f"{n} {v:.2f}" for n, v in p.top(3))
        rows.append(f"<tr><td>{escape(p.name)}</td><td>{png(p.prepared.pixels, 255, 1)}</td><td>{escape(p.class_names[p.label])}</td>"
                    f"<td>{p.confidence:.3f}</td><td><b>{escape(answer)}</b></td><td>{escape(top)}</td><td>{escape(p.decision.reason)}</td></tr>")
    head = "".join(f"<th>{h}</th>" for h in ("input", "as seen", "predicted", "confidence", "answer", "top 3", "reason"))
    answered = int(predictions.answered.sum())
    more = f"<p>… and {len(predictions) - PREDICTIONS_SHOWN:,} more</p>" if len(predictions) > PREDICTIONS_SHOWN else ""
    return box(f"{len(predictions)} predictions, {answered} answered, {len(predictions) - answered} unsure",
               f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>", more)
