"""Parallel work on one machine: the thread budget, and data-parallel training under torchrun."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mnistlab import MnistlabError
from mnistlab.runs.store import load_run
from mnistlab.threads import busy_cores, share, thread_budget, usable_cores


def test_a_set_thread_count_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNISTLAB_THREADS", "3")
    assert thread_budget() == 3
    monkeypatch.setenv("MNISTLAB_THREADS", "many")
    with pytest.raises(MnistlabError, match="MNISTLAB_THREADS must be a positive number"):
        thread_budget()


def test_workers_share_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MNISTLAB_THREADS")
    cores = usable_cores()
    assert share(1) == cores and share(cores) == 1 and share(4 * cores) == 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(cores))  # torchrun's ranks on this machine
    assert thread_budget() == 1


def test_a_training_leaves_a_busy_core_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MNISTLAB_THREADS")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        busy_cores(0.3)  # let the spinner get going
        assert busy_cores(0.5) > 0.6
        assert thread_budget() <= max(1, usable_cores() - 1)
    finally:
        spinner.kill()
        spinner.wait()


def train(out: Path, *extra: str) -> None:
    command = [sys.executable, "-m", "mnistlab", "train", "--dataset", "digits", "--model", "mlp-64-32-relu", "--optimizer", "adam",
               "--epochs", "2", "--batch-size", "50", "--validation", "0.1", "--device", "cpu", "--out", str(out), "--quiet", *extra]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_two_processes_train_the_same_model_as_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DDP on gloo: each rank takes half of every batch of 50; the weights match one process's to float rounding."""
    monkeypatch.delenv("MNISTLAB_THREADS")  # the ranks share the cores
    train(tmp_path / "one")
    train(tmp_path / "two", "--nproc", "2")
    one, two = load_run(tmp_path / "one"), load_run(tmp_path / "two")
    assert (one.metrics["processes"], two.metrics["processes"]) == (1, 2)
    assert two.metrics["threads"] == [share(2)]
    for (name, a), (_, b) in zip(one.network.state_dict().items(), two.network.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=name)
    for a, b in zip(one.history, two.history):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6) and a["accuracy"] == b["accuracy"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]  # rank 0 alone wrote a run folder
