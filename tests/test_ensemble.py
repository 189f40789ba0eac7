"""Ensembles and test-time augmentation: run folders that evaluate, predict and export as one model."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import mnistlab
from mnistlab import TrainConfig, load_run, train_and_report
from mnistlab.cli.main import main
from mnistlab.evaluation.calibration import expected_calibration_error, with_temperature
from mnistlab.models.ensemble import shifted
from mnistlab.prediction.decision import load_rule
from mnistlab.prediction.engines import OnnxEngine, TorchEngine
from mnistlab.recipes.accuracy import calibration_on_test
from mnistlab.training.progress import Progress

IMAGES = 500  # test images the by-hand checks use


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory, mnist) -> list:
    """Two small MLPs of different seeds holding out the same 20% (one split_seed), and one with its own split."""
    folder = tmp_path_factory.mktemp("members")
    runs = []
    for name, seed, split_seed in (("a", 0, 0), ("b", 1, 0), ("c", 2, None)):
        config = TrainConfig(name=name, model="mlp-128-64-32", optimizer="adam", epochs=1, limit=4000, validation=0.2,
                             seed=seed, split_seed=split_seed)
        runs.append(train_and_report(config, out=folder / name, progress=Progress(quiet=True), dataset=mnist, report=False))
    return runs


def test_shifted_moves_pixels_and_fills_with_background() -> None:
    image = torch.zeros(1, 1, 4, 4)
    image[..., 1, 2] = 1.0
    for (rows, columns), (r, c) in {(1, 0): (2, 2), (-1, 0): (0, 2), (0, 1): (1, 3), (0, -1): (1, 1)}.items():
        moved = shifted(image, rows, columns)
        assert moved.shape == image.shape and moved[..., r, c].item() == 1.0 and moved.sum().item() == 1.0
    assert shifted(image, 0, 2).sum().item() == 0.0  # moved off the edge: gone, nothing wraps round


def probabilities(run, x: np.ndarray) -> np.ndarray:
    return TorchEngine(run.network).run(x)[0]


def test_an_ensemble_is_the_mean_of_its_members(capsys, tmp_path: Path, members, mnist, data_dir) -> None:
    a, b, _ = members
    out = tmp_path / "ab"
    assert main(["ensemble", str(a.path), str(b.path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    ensemble = load_run(out)
    assert repr(ensemble).startswith(f"Run('{out}', model=ensemble of 2, dataset=mnist")  # not its first member's model
    x = mnist.x_test[:IMAGES].reshape(IMAGES, -1).astype(np.float32) / 255
    mean = (probabilities(a, x) + probabilities(b, x)) / 2
    assert np.abs(probabilities(ensemble, x) - mean).max() < 1e-6
    assert f"Test accuracy: {ensemble.metrics['test_accuracy']:.4f}" in printed
    assert main(["evaluate", str(out)]) == 0
    assert f"Test accuracy: {ensemble.metrics['test_accuracy']:.4f}" in capsys.readouterr().out
    # the test set's calibration error before and after the temperature, measured as the ensemble was made (so the accuracy
    # report need not read the test set again), is its test probabilities'
    tested = probabilities(ensemble, mnist.x_test.reshape(len(mnist.x_test), -1).astype(np.float32) / 255)
    temperature = load_rule(out).thresholds.temperature
    expected = (expected_calibration_error(p, mnist.y_test) for p in (tested, with_temperature(tested, temperature)))
    assert temperature != 1.0 and calibration_on_test(ensemble, mnist) == pytest.approx((temperature, *expected))
    # a and b held out the same images, so the ensemble's temperature and thresholds are chosen on them
    assert load_rule(out).thresholds.chosen_on.startswith("validation split (800 images")
    # its typicality check reads every member's features of the image, side by side, one block each
    assert load_rule(out).typicality.widths == a.network.feature_widths + b.network.feature_widths
    members_features = np.hstack([TorchEngine(m.network).run(x)[1] for m in (a, b)])
    assert np.abs(TorchEngine(ensemble.network).run(x)[1] - members_features).max() < 1e-5
    answered = mnistlab.predict(ensemble, mnist.x_test[:20], prepare=False)
    assert np.array_equal(answered.classes, mean[:20].argmax(1))
    assert main(["report", str(out)]) == 0  # an ensemble was not trained: its members stand where the curves would
    page = (out / "report.html").read_text()
    assert "<h2>Members</h2>" in page and str(a.path) in page and not (out / "report" / "curves.png").exists()


def test_members_with_their_own_splits_choose_on_training_images(tmp_path: Path, members, data_dir) -> None:
    _, b, c = members
    assert main(["ensemble", str(b.path), str(c.path), "--out", str(tmp_path / "bc")]) == 0
    rule = load_rule(tmp_path / "bc")
    assert "seen in training" in rule.thresholds.chosen_on and rule.thresholds.temperature == 1.0  # c trained on b's held-out images
    (tmp_path / "bc" / "decision.json").unlink()  # chosen again (`mnistlab thresholds`), the rule is the one chosen first
    assert main(["thresholds", str(tmp_path / "bc")]) == 0
    assert load_rule(tmp_path / "bc").thresholds == rule.thresholds


def test_an_ensemble_exports_as_one_onnx_graph(tmp_path: Path, members, mnist, data_dir) -> None:
    import onnx

    a, b, _ = members
    assert main(["ensemble", str(a.path), str(b.path), "--out", str(tmp_path / "ab")]) == 0
    for folder in (a.path, tmp_path / "ab"):
        assert main(["export", str(folder)]) == 0
    products = {folder: sum(n.op_type in ("Gemm", "MatMul") for n in onnx.load(str(folder / "model.onnx")).graph.node)
                for folder in (a.path, tmp_path / "ab")}
    assert products[tmp_path / "ab"] == 2 * products[a.path]  # both members' layers in the one file
    x = mnist.x_test[:IMAGES].reshape(IMAGES, -1).astype(np.float32) / 255
    exported, exact = OnnxEngine(tmp_path / "ab" / "model.onnx").run(x), TorchEngine(load_run(tmp_path / "ab").network).run(x)
    assert all(np.abs(onnx_output - torch_output).max() < 1e-5 for onnx_output, torch_output in zip(exported, exact))


def by_hand_tta(run, images: np.ndarray, mirror: bool = False) -> np.ndarray:
    """The mean softmax over each image and its four one-pixel shifts, shifted in numpy with zeros coming in;
    with ``mirror``, over those of the left-right mirror image too."""
    views = []
    for original in (images, images[:, :, ::-1]) if mirror else (images,):
        views.append(original)
        for axis, step in ((1, 1), (1, -1), (2, 1), (2, -1)):
            moved = np.zeros_like(original)
            source = [slice(None)] * 3
            target = [slice(None)] * 3
            source[axis], target[axis] = (slice(0, -1), slice(1, None)) if step == 1 else (slice(1, None), slice(0, -1))
            moved[tuple(target)] = original[tuple(source)]
            views.append(moved)
    return np.mean([probabilities(run, v.reshape(len(v), -1).astype(np.float32) / 255) for v in views], axis=0)


def test_test_time_augmentation(capsys, members, mnist, data_dir) -> None:
    run = members[0]
    images, labels = mnist.x_test[:IMAGES], mnist.y_test[:IMAGES]
    expected = by_hand_tta(run, images)
    with_tta = mnistlab.predict(run, images, prepare=False, tta=True)
    assert np.array_equal(with_tta.classes, expected.argmax(1))
    assert "test-time augmentation" in capsys.readouterr().out  # its thresholds are chosen once, and it says so
    tta_folder = run.path / "tta"
    assert load_rule(tta_folder).thresholds.chosen_on.startswith("validation split")
    x = images.reshape(IMAGES, -1).astype(np.float32) / 255
    assert np.abs(probabilities(load_run(tta_folder), x) - expected).max() < 1e-5

    assert main(["evaluate", str(run.path), "--tta"]) == 0
    printed = capsys.readouterr().out
    shown = float(re.search(r"Test accuracy: ([0-9.]+)", printed).group(1))
    assert main(["evaluate", str(tta_folder)]) == 0
    assert f"Test accuracy: {shown:.4f}" in capsys.readouterr().out  # the option and the folder are one model
    assert float(np.mean(expected.argmax(1) == labels)) > 0.8

    assert main(["export", str(tta_folder)]) == 0  # the shifts are part of the exported graph
    assert np.abs(OnnxEngine(tta_folder / "model.onnx").run(x)[0] - expected).max() < 1e-5


def test_an_ensemble_of_different_datasets_or_of_ensembles_is_one_error(capsys, tmp_path: Path, members, data_dir) -> None:
    digits = train_and_report(TrainConfig(dataset="digits", model="mlp-128-64-32", optimizer="adam", epochs=1),
                              out=tmp_path / "digits", progress=Progress(quiet=True), report=False)
    assert main(["ensemble", str(members[0].path), str(digits.path), "--out", str(tmp_path / "mixed")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "must classify the same dataset" in error
    assert not (tmp_path / "mixed").exists()
    assert main(["ensemble", str(members[0].path), str(members[1].path), "--out", str(tmp_path / "ab")]) == 0
    assert main(["ensemble", str(tmp_path / "ab"), str(members[2].path), "--out", str(tmp_path / "nested")]) == 2
    assert "is itself an ensemble; give its members" in capsys.readouterr().err


def test_a_run_trained_on_mirror_images_is_shown_mirrors_at_test_time_too(capsys, tmp_path: Path, members, mnist, data_dir) -> None:
    config = TrainConfig(name="mirrored", model="mlp-128-64-32", optimizer="adam", epochs=1, limit=4000, validation=0.2,
                         augment={"rotation": 0.0, "shift": 0.0, "shear": 0.0, "zoom": 0.0, "horizontal_flip": True})
    run = train_and_report(config, out=tmp_path / "mirrored", progress=Progress(quiet=True), dataset=mnist, report=False)
    images = mnist.x_test[:IMAGES]
    x = images.reshape(IMAGES, -1).astype(np.float32) / 255
    expected = by_hand_tta(run, images, mirror=True)
    assert np.abs(expected - by_hand_tta(run, images)).max() > 1e-3  # the mirrors change the answer: the check can tell
    assert main(["ensemble", str(run.path), "--out", str(tmp_path / "tta"), "--tta"]) == 0
    assert np.abs(probabilities(load_run(tmp_path / "tta"), x) - expected).max() < 1e-5
    assert main(["export", str(tmp_path / "tta")]) == 0  # the mirrors are part of the exported graph
    assert np.abs(OnnxEngine(tmp_path / "tta" / "model.onnx").run(x)[0] - expected).max() < 1e-5
    assert main(["ensemble", str(run.path), str(members[0].path), "--out", str(tmp_path / "mixed")]) == 2
    error = capsys.readouterr().err.strip()  # TTA would mirror for one member and not the other: one rule, so refused
    assert len(error.splitlines()) == 1 and "must all be trained with mirror images or all without" in error
    assert not (tmp_path / "mixed").exists()
