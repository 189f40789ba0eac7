"""The report of one run: its figures as PNGs and one self-contained HTML page holding everything."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from mnistlab.atomic import write_json, write_text
from mnistlab.data.dataset import Dataset
from mnistlab.evaluation.analysis import Analysis, analyze
from mnistlab.evaluation.calibration import ECE_BINS, reliability_before_after
from mnistlab.models.summary import summary
from mnistlab.prediction.abstention import (
    ABSTENTION_HEADERS, LETTER_HEADERS, LETTERS_CAPTION, saved_abstention,
)
from mnistlab.prediction.decision import RULE_FILE, Thresholds, load_rule
from mnistlab.runs.store import HISTORY_COLUMNS, Run
from mnistlab.viz import html
from mnistlab.viz.canvas import save_png
from mnistlab.viz.run_figures import confidence_histogram, confusion, curves, gallery, reliability_diagram
from mnistlab.tables import fixed

REPORT_FIGURES = ("curves.png", "confusion.png", "correct.png", "mistakes.png", "confidence.png", "reliability.png")
GALLERY_SIZE = 32


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("—" if value is None else str(value))


def calibration(analysis: Analysis, temperature: float) -> dict:
    """Expected calibration error on the test set before and after the run's temperature (an evaluation: nothing is chosen here)."""
    before, after = reliability_before_after(analysis.probabilities, analysis.labels, temperature)
    return {"bins": ECE_BINS, "temperature": temperature, "ece_before": before.ece, "ece_after": after.ece, "reliability": (before, after)}


def write_figures(run: Run, analysis: Analysis, max_value: int, folder: Path, progress: Callable[[str], None], calibrated: dict) -> dict[str, Path]:
    """Write the run's PNGs into ``folder``."""
    best = run.metrics.get("best_epoch") if run.metrics.get("restored_best_weights") else None
    before, after = calibrated["reliability"]
    panels = [("as trained", before)] + ([(f"temperature {calibrated['temperature']:.2f}", after)] if calibrated["temperature"] != 1 else [])
    makers = {
        **({"curves.png": lambda: curves(run.history, best, title=f"{run.config.name}: training curves")} if run.history else {}),
        "confusion.png": lambda: confusion(analysis),
        "correct.png": lambda: gallery(analysis, analysis.confident_correct(GALLERY_SIZE), f"Correct predictions ({GALLERY_SIZE} at random)", max_value),
        "mistakes.png": lambda: gallery(analysis, analysis.worst_mistakes(GALLERY_SIZE), "Worst mistakes, highest loss first", max_value),
        "confidence.png": lambda: confidence_histogram(analysis),
        "reliability.png": lambda: reliability_diagram(panels),
    }
    paths = {}
    for i, (name, make) in enumerate(makers.items(), 1):
        progress(f"  report [{i}/{len(makers)}] {name}")
        paths[name] = save_png(make(), folder / name)
    return paths


def calibration_section(calibrated: dict, thresholds: Thresholds | None, figure: Path) -> str:
    temperature = calibrated["temperature"]
    if thresholds is None:
        how = "No decision rule yet (`mnistlab thresholds RUN` chooses one): the probabilities are as trained."
    elif temperature == 1:
        how = f"Not calibrated: the rule was chosen on {thresholds.chosen_on}, and images seen in training say nothing of confidence on new ones."
    else:
        how = f"Temperature {temperature:.3f}, fitted on the {thresholds.chosen_on}; the decision thresholds apply to the calibrated probabilities."
    return html.section(
        "calibration", f"Calibration (test set, {calibrated['bins']} bins)",
        html.cards([("ECE as trained", f"{calibrated['ece_before']:.4f}"), ("ECE calibrated", f"{calibrated['ece_after']:.4f}"),
                    ("temperature", f"{temperature:.3f}")]),
        f"<p>{html.escape(how)}</p>", html.figure_img(figure, "reliability diagram"))


def abstention_section(run_path: Path) -> str:
    """The run's abstention table and the letters it takes for its classes, as ``mnistlab abstention RUN`` measured
    them; until then, the command that does."""
    saved = saved_abstention(run_path)
    if saved is None:
        return html.section("abstention", "Abstention", f"<p>Not measured yet: <code>mnistlab abstention {html.escape(str(run_path))}</code> "
                            "measures how often the run answers things that are not its classes (the other dataset, letters, noise) "
                            "and adds the table here.</p>")
    letters = []
    if saved.letters is not None:
        rows, others = saved.letters
        letters = [f"<p>{html.escape(f'{LETTERS_CAPTION} {others}')}</p>", html.table(LETTER_HEADERS, rows)]
    return html.section("abstention", "Abstention on what is not its classes", f"<p>{html.escape(saved.caption)}</p>",
                        html.table(ABSTENTION_HEADERS, saved.rows, scroll=True), *letters)


def members_section(metrics: dict) -> str:
    """An ensemble's members (prediction/ensemble.py) in place of training curves: it was not trained, they were."""
    rows = [[path, fixed(accuracy)] for path, accuracy in zip(metrics.get("members", []), metrics.get("member_test_accuracy", []))]
    tta = " Each member also sees every image moved by one pixel up, down, left and right." if metrics.get("tta") else ""
    return html.section("members", "Members", f"<p>The mean of these runs' probabilities.{tta}</p>",
                        html.table(["run", "test accuracy"], rows))


def render_html(run: Run, analysis: Analysis, figures: dict[str, Path], calibrated: dict, thresholds: Thresholds | None) -> str:
    m = run.metrics
    per_class = analysis.per_class()
    status = m["status"] + (f", best epoch {m['best_epoch']} restored" if m.get("restored_best_weights") else "")
    body = [
        html.cards([
            ("test accuracy", fixed(m['test_accuracy'])),
            ("test loss", fixed(m['test_loss'])),
            ("train accuracy" + (f" ({m['train_accuracy_images']:,} images)" if "train_accuracy_images" in m else ""),
             f"{m['train_accuracy']:.4f}"),
            ("parameters", f"{m['params']:,}"),
            ("epochs", str(m["epochs_run"])),
            ("seconds", f"{m['seconds']:.1f}"),
        ]),
        html.section("curves", "Loss and accuracy", html.figure_img(figures["curves.png"], "training curves")) if run.history
        else members_section(m),
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
        calibration_section(calibrated, thresholds, figures["reliability.png"]),
        abstention_section(run.path),
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
    thresholds = load_rule(run.path).thresholds if (run.path / RULE_FILE).is_file() else None
    calibrated = calibration(analysis, thresholds.temperature if thresholds else 1.0)
    figures = write_figures(run, analysis, dataset.max_value, folder, progress, calibrated)
    write_json(folder / "analysis.json", {
        "accuracy": analysis.accuracy,
        "per_class": analysis.per_class(),
        "most_confused": analysis.most_confused(),
        "confusion": analysis.confusion().tolist(),
        "calibration": {k: v for k, v in calibrated.items() if k != "reliability"},
    })
    path = run.path / "report.html"
    write_text(path, render_html(run, analysis, figures, calibrated, thresholds))
    progress(f"Report written to {path}")
    return path
