"""Run reports and comparisons: figures, the HTML's contents, a real browser, and the comparison table's numbers."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from browser import open_page
from mnistlab import TrainConfig, load_dataset, load_run, train, train_and_report
from mnistlab.cli.main import main
from mnistlab.evaluation.analysis import analyze
from mnistlab.training.progress import Progress
from mnistlab.viz.report import REPORT_FIGURES
from test_explore import assert_png

QUIET = Progress(quiet=True)
SECTIONS = ["curves", "confusion", "per-class", "confused-pairs", "mistakes", "correct", "confidence", "calibration", "abstention", "model", "history", "metrics", "config"]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def fashion_pair(tmp_path_factory: pytest.TempPathFactory, canonical_data_dir: Path):
    """The notebook's dropout comparison on a Fashion-MNIST slice: the same MLP without and with dropout."""
    folder = tmp_path_factory.mktemp("compare")
    dataset = load_dataset("fashion-mnist", data_dir=canonical_data_dir)
    runs = []
    for model in ("mlp-128-64-32", "mlp-128-64-32-dropout"):
        config = TrainConfig(name=model, dataset="fashion-mnist", model=model, optimizer="adam", epochs=2, limit=3000, batch_size=32)
        runs.append(train(config, out=folder / model, progress=QUIET, dataset=dataset))
    return runs


def test_report_files_and_contents(tmp_path: Path, digits) -> None:
    run = train_and_report(TrainConfig(name="digits", dataset="digits", model="mlp-128-64-32", optimizer="adam", epochs=3),
                out=tmp_path / "run", progress=QUIET, dataset=digits)
    for name in REPORT_FIGURES:
        assert_png(run.path / "report" / name)
    page = (run.path / "report.html").read_text()
    assert all(f'id="{s}"' in page for s in SECTIONS)
    assert page.count('src="data:image/png;base64,') == len(REPORT_FIGURES)
    assert "http://" not in page and "https://" not in page  # opens with no network
    assert f"{run.metrics['test_accuracy']:.4f}" in page and "Total params: 18,986" in page
    assert f"Not measured yet: <code>mnistlab abstention {run.path}</code>" in page  # until it is measured
    analysis = json.loads((run.path / "report" / "analysis.json").read_text())
    assert sum(row["support"] for row in analysis["per_class"]) == len(digits.y_test)
    assert analysis["accuracy"] == pytest.approx(run.metrics["test_accuracy"])
    confusion = analysis["confusion"]
    assert sum(confusion[i][i] for i in range(10)) == round(run.metrics["test_accuracy"] * len(digits.y_test))
    wrong = sum(map(sum, confusion)) - sum(confusion[i][i] for i in range(10))
    assert sum(p["count"] for p in analysis["most_confused"]) <= wrong


def test_analysis_orders_mistakes_by_loss(digits, tmp_path: Path) -> None:
    run = train(TrainConfig(name="d", dataset="digits", model="mlp-64-tanh", optimizer="sgd", epochs=1),
                out=tmp_path / "run", progress=QUIET, dataset=digits)
    analysis = analyze(run.network, digits)
    worst = analysis.worst_mistakes(10)
    assert len(worst) > 0 and not analysis.correct[worst].any()
    losses = analysis.losses[worst]
    assert list(losses) == sorted(losses, reverse=True)
    assert losses[0] == pytest.approx(analysis.losses[~analysis.correct].max())


@pytest.mark.parametrize(
    "overrides",
    [{"epochs": 1}, {"validation": "none"}, {"epochs": 4, "validation": 0.2,
                                             "early_stopping": {"monitor": "val_accuracy", "patience": 1, "restore_best_weights": True}}],
    ids=["one-epoch", "no-validation", "early-stopped"],
)
def test_report_for_unusual_runs(tmp_path: Path, digits, overrides: dict) -> None:
    config = TrainConfig(**{"name": "x", "dataset": "digits", "model": "mlp-128-64-32", "optimizer": "adam", "epochs": 2, **overrides})
    run = train_and_report(config, out=tmp_path / "run", progress=QUIET, dataset=digits)
    assert (run.path / "report.html").is_file()
    assert_png(run.path / "report" / "curves.png")


def test_report_cli_regenerates(tmp_path: Path, digits, capsys: pytest.CaptureFixture[str]) -> None:
    run = train(TrainConfig(name="d", dataset="digits", model="mlp-128-64-32", optimizer="adam", epochs=1),
                out=tmp_path / "run", progress=QUIET, dataset=digits)
    assert not (run.path / "report.html").exists()
    assert main(["report", str(run.path)]) == 0
    assert (run.path / "report.html").is_file() and "Report written to" in capsys.readouterr().out


def test_report_in_headless_chromium(tmp_path: Path, digits) -> None:
    run = train_and_report(TrainConfig(name="browser", dataset="digits", model="mlp-128-64-32", optimizer="adam", epochs=3),
                out=tmp_path / "run", progress=QUIET, dataset=digits)
    check = open_page((run.path / "report.html").as_uri(), tmp_path / "report.png")
    assert check.console_errors == [] and check.page_errors == []
    assert check.section_ids == SECTIONS
    assert len(check.images) == len(REPORT_FIGURES)
    assert all(img["complete"] and img["width"] >= 400 for img in check.images), check.images
    assert_png(check.screenshot, 1000, 2000)


def test_compare_table_matches_runs(fashion_pair, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain, dropout = fashion_pair
    assert main(["compare", str(plain.path), str(dropout.path), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "gap (train-test acc)" in printed and "dropout" in printed
    with (tmp_path / "comparison.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["dropout"] for r in rows] == ["N", "Y"]
    assert [r["model"] for r in rows] == ["mlp-128-64-32", "mlp-128-64-32-dropout"]
    for row, run in zip(rows, fashion_pair):
        m = load_run(run.path).metrics
        assert float(row["test acc"]) == pytest.approx(m["test_accuracy"], abs=5e-5)
        assert float(row["train acc"]) == pytest.approx(m["train_accuracy"], abs=5e-5)
        assert float(row["test loss"]) == pytest.approx(m["test_loss"], abs=5e-5)
        assert float(row["gap (train-test acc)"]) == pytest.approx(m["train_accuracy"] - m["test_accuracy"], abs=1e-4)
        assert int(row["params"]) == 111_146
    assert_png(tmp_path / "curves.png")
    markdown = (tmp_path / "comparison.md").read_text()
    assert re.search(r"\| mlp-128-64-32-dropout \| Y \|", markdown)
    check = open_page((tmp_path / "comparison.html").as_uri(), tmp_path / "comparison.png")
    assert check.console_errors == [] and len(check.images) == 1 and check.images[0]["width"] > 400
