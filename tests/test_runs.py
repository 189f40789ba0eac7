"""Run folders: save → reload → same predictions, atomic files, listing, evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mnistlab.config import SPEEDUP_DEFAULTS
from mnistlab import MnistlabError, TrainConfig, evaluate, list_runs, load_dataset, load_run, train, train_and_report
from mnistlab.data.preprocess import prepare_images
from mnistlab.runs.store import RUN_FILES
from mnistlab.training.progress import Progress


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("runs") / "digits-mlp"
    config = TrainConfig(name="digits", dataset="digits", model="mlp-128-64-32-dropout", optimizer="adam", epochs=2, batch_size=32)
    dataset = load_dataset("digits")
    return train_and_report(config, out=folder, progress=Progress(quiet=True), dataset=dataset, report=False), dataset


def test_run_folder_contents(digits_run) -> None:
    run, _ = digits_run
    assert sorted(p.name for p in run.path.iterdir()) == sorted([*RUN_FILES, "decision.json", "decision.safetensors"])
    metrics = json.loads((run.path / "metrics.json").read_text())
    for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "params", "seconds", "device", "versions"):
        assert key in metrics
    assert metrics["versions"]["torch"] == torch.__version__
    assert (run.path / "history.csv").read_text().splitlines()[0] == "epoch,loss,accuracy,val_loss,val_accuracy,seconds"
    config = json.loads((run.path / "config.json").read_text())
    assert config["model"] == "mlp-128-64-32-dropout" and config["epochs"] == 2


def test_reload_gives_identical_predictions(digits_run) -> None:
    run, dataset = digits_run
    x = prepare_images(dataset.x_test, dataset.max_value, flat=True)
    again = load_run(run.path)
    torch.testing.assert_close(again.network.predict_proba(x), run.network.predict_proba(x), rtol=0, atol=0)
    assert again.class_names == dataset.class_names
    assert again.history == run.history


def test_weights_are_tensors_only(digits_run) -> None:
    run, _ = digits_run
    head = (run.path / "model.safetensors").read_bytes()[:8]
    header_len = int.from_bytes(head, "little")
    header = json.loads((run.path / "model.safetensors").read_bytes()[8 : 8 + header_len])
    assert all(v["dtype"] in ("F32", "I64") for k, v in header.items() if k != "__metadata__")


def test_evaluate_matches_saved_metrics(digits_run) -> None:
    run, dataset = digits_run
    result = evaluate(run.path, dataset=dataset, device="cpu")
    assert result["test_accuracy"] == pytest.approx(run.metrics["test_accuracy"])
    assert result["test_loss"] == pytest.approx(run.metrics["test_loss"], rel=1e-5)


def test_list_runs(digits_run) -> None:
    run, _ = digits_run
    found = list_runs(run.path.parent)
    assert [(r.path, r.damage, r.metrics["test_accuracy"]) for r in found] == [(run.path, None, run.metrics["test_accuracy"])]


def test_incomplete_run_folder(tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(MnistlabError, match="not a complete run folder"):
        load_run(tmp_path / "half")
    with pytest.raises(MnistlabError, match="does not exist"):
        load_run(tmp_path / "nothing")


def test_no_temporary_files_left(digits_run) -> None:
    run, _ = digits_run
    assert not [p for p in run.path.iterdir() if p.name.startswith(".")]


def test_run_replays_from_its_config(digits_run, tmp_path: Path) -> None:
    run, dataset = digits_run
    saved = json.loads((run.path / "config.json").read_text())
    assert (saved["lr"], saved["peak_lr"], saved["early_stopping"]) == (0.001, None, None)  # adam's lr, as used
    assert TrainConfig(schedule="onecycle", optimizer="adam").resolved().to_dict() == {
        **TrainConfig(schedule="onecycle", optimizer="adam").to_dict(), "name": "cnn", "lr": None, "peak_lr": 0.001,
        "speedups": SPEEDUP_DEFAULTS}
    replay = train(TrainConfig.from_dict(saved), out=tmp_path / "replay",
                   progress=Progress(quiet=True), dataset=dataset)
    assert replay.history == [{**r, "seconds": replay.history[i]["seconds"]} for i, r in enumerate(run.history)]
