"""Trustworthy confidence: reliability bins and ECE by hand, temperature scaling recovering a known temperature, a run
calibrated on its validation split, and abstention measured on Fashion-MNIST, letters and noise."""

from __future__ import annotations

import json
import string
from pathlib import Path

import numpy as np
import pytest

from mnistlab import TrainConfig, train_and_report
from mnistlab.cli.main import main
from mnistlab.prediction.abstention import SCORES, font_names, letters, machine_fonts
from mnistlab.evaluation.calibration import expected_calibration_error, fit_temperature, reliability, with_temperature
from mnistlab.prediction.decision import load_rule
from mnistlab.prediction.engines import TorchEngine
from mnistlab.prediction.predictor import Predictor
from mnistlab.data.preprocess import prepare_images
from mnistlab.training.progress import Progress
from mnistlab.viz.run_figures import reliability_diagram


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_ece_and_bins_by_hand() -> None:
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    labels = np.array([0, 1, 1, 1])  # the 0.9 bin is right half the time, the 0.6 bin always
    bins = reliability(probabilities, labels, bins=10)
    assert bins.counts.tolist() == [0, 0, 0, 0, 0, 2, 0, 0, 2, 0]  # 0.6 falls in (0.5, 0.6], 0.9 in (0.8, 0.9]
    assert bins.accuracy[5] == 1.0 and bins.accuracy[8] == 0.5
    assert expected_calibration_error(probabilities, labels, bins=10) == pytest.approx((2 * 0.4 + 2 * 0.4) / 4)


def test_the_reliability_diagram_says_how_many_images_each_bin_holds() -> None:
    # one image at 0.6, always right, beside 1000 at 0.9, 90% right: its bar is as tall as theirs, and only the counts tell them apart
    probabilities = np.array([[0.4, 0.6]] + [[0.9, 0.1]] * 1000)
    labels = np.array([1] + [0] * 900 + [1] * 100)
    bins = reliability(probabilities, labels, bins=10)
    figure = reliability_diagram([("as trained", bins)])
    accuracy_ax, counts_ax = figure.axes
    assert [bar.get_height() for bar in accuracy_ax.patches[:2]] == pytest.approx([1.0, 0.9])
    assert [bar.get_height() for bar in counts_ax.patches] == [1, 1000] and counts_ax.get_yscale() == "log"


def test_temperature_scaling_recovers_a_known_temperature_and_keeps_the_winner() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(20_000, 10))
    truth = softmax(logits / 2.0)  # the labels follow logits/2: a model reporting softmax(logits) is overconfident
    labels = np.array([rng.choice(10, p=row) for row in truth])
    overconfident = softmax(logits).astype(np.float32)
    temperature = fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(2.0, abs=0.08)
    calibrated = with_temperature(overconfident, temperature)
    assert (calibrated.argmax(1) == overconfident.argmax(1)).all()
    np.testing.assert_allclose(calibrated, truth, atol=0.02)
    assert expected_calibration_error(calibrated, labels) < expected_calibration_error(overconfident, labels) / 3
    assert with_temperature(overconfident, 1.0) is overconfident


def test_a_run_with_a_validation_split_is_calibrated_on_it(data_dir: Path, mnist, tmp_path: Path) -> None:
    config = TrainConfig(model="mlp-512", optimizer="adam", epochs=2, limit=12000, validation=0.1)
    run = train_and_report(config, out=tmp_path / "run", progress=Progress(quiet=True), dataset=mnist)
    rule = load_rule(run.path)
    assert "validation split (1200 images" in rule.thresholds.chosen_on and rule.thresholds.temperature != 1.0
    saved = json.loads((run.path / "report" / "analysis.json").read_text())["calibration"]
    assert saved["temperature"] == rule.thresholds.temperature and saved["bins"] == 15
    assert 0 <= saved["ece_after"] < 0.05 and 0 <= saved["ece_before"] < 0.1
    page = (run.path / "report.html").read_text()
    assert "ECE calibrated" in page and "reliability diagram" in page and "fitted on the validation split" in page
    # what predict reports, and what its thresholds apply to, are the calibrated probabilities
    x = prepare_images(mnist.x_test[:50], 255, flat=True).numpy()
    raw, _ = TorchEngine(run.network).run(x)
    predicted = Predictor(run.path, prepare=False).predict_any(mnist.x_test[:50]).probabilities
    np.testing.assert_allclose(predicted, with_temperature(raw, rule.thresholds.temperature), atol=1e-6)


def test_abstention_table_on_fashion_letters_and_noise(capsys, data_dir: Path, cnn_run) -> None:
    assert main(["abstention", str(cnn_run.path), "--images", "200"]) == 0
    out = capsys.readouterr().out
    assert "fashion-mnist test images" in out and "letters (A-Z, a-z, machine fonts)" in out and "AUROC combined" in out
    table = json.loads((cnn_run.path / "abstention.json").read_text())
    true, photos, *others = table["rows"]
    assert true["set"] == "mnist test images" and [r["set"] for r in others] == [
        "fashion-mnist test images", "letters (A-Z, a-z, machine fonts)", "noise"]
    assert all(true[f"answered_{k}"] >= 0.985 for k in ("confidence", "margin", "distance"))  # the 99% thresholds
    # photos of the same digits, prepared as predict prepares them: mostly answered, and mostly right
    assert photos["set"] == "photos of the same images" and "auroc_confidence" not in photos
    assert photos["answered_by_rule"] > 0.5 and photos["right_when_answered"] > 0.9 and true["right_when_answered"] > 0.9
    for row in others:
        assert row["images"] == 200 and all(0 <= row[f"auroc_{k}"] <= 1 for k in SCORES)
    noise = others[2]
    assert noise["auroc_confidence"] > 0.8 and noise["answered_by_rule"] < 0.2  # the CNN is unsure of pixel noise
    # letter by letter: the letters split the letters row exactly (an AUROC is a mean over pairs of images)
    by_letter, letters_row = table["letters"], others[1]
    assert [r["letter"] for r in by_letter] == list(string.ascii_uppercase + string.ascii_lowercase)
    weights = np.array([r["images"] for r in by_letter])
    assert weights.sum() == 200
    for key in ("auroc_confidence", "auroc_distance", "answered_by_rule"):
        assert np.average([r[key] for r in by_letter], weights=weights) == pytest.approx(letters_row[key])
    assert all(r["answered_as"] in (None, *map(str, range(10))) for r in by_letter)
    assert "The letters it takes most for its classes" in out and "answered most as" in out
    # the fonts they were drawn from are named, for comparing a table with one measured where other fonts are installed
    assert table["fonts"] == font_names(machine_fonts())
    assert f"The letters are drawn from {len(machine_fonts())} fonts: " in out
    # the run's report now shows the same table and letters, and regenerating it keeps them
    for _ in range(2):
        page = (cnn_run.path / "report.html").read_text()
        assert "Abstention on what is not its classes" in page and "Not measured yet" not in page
        assert f"<td>noise</td><td>200</td><td>{noise['auroc_confidence']:.4f}</td>" in page
        hardest = min(by_letter, key=lambda r: r["auroc_confidence"])
        assert f"<td>{hardest['letter']}</td><td>{hardest['auroc_confidence']:.4f}</td><td>{hardest['auroc_distance']:.4f}</td>" in page
        assert f"drawn from {len(table['fonts'])} fonts" in page
        assert main(["report", str(cnn_run.path)]) == 0
    # a damaged table is one line and exit 2, not a traceback or a report without it
    saved = (cnn_run.path / "abstention.json").read_text()
    letter_lost = {**table, "letters": [{"letter": "A"}, *table["letters"][1:]]}  # a letter without its AUROC
    text_for_number = {**table, "rows": [{**table["rows"][0], "answered_by_rule": "most"}, *table["rows"][1:]]}
    for damaged in (saved[: len(saved) // 2], json.dumps({"rows": []}), json.dumps(letter_lost), json.dumps(text_for_number)):
        (cnn_run.path / "abstention.json").write_text(damaged)
        assert main(["report", str(cnn_run.path)]) == 2
        assert "abstention.json is damaged" in capsys.readouterr().err
    (cnn_run.path / "abstention.json").write_text(saved)
    assert main(["abstention", str(cnn_run.path), "--images", "3"]) == 2
    assert "--images must be at least 10" in capsys.readouterr().err


def test_letters_are_dark_ink_on_light_paper_in_several_fonts() -> None:
    images = letters(52, seed=1)
    pixels = [np.asarray(image, dtype=np.float64) for image in images]
    assert all(np.median(p) > 150 and p.min() < np.median(p) - 60 for p in pixels)  # light paper, dark strokes
    assert len(machine_fonts()) >= 2 and len({p.tobytes() for p in pixels}) == 52
