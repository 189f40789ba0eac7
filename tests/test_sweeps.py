"""Sweeps on Optuna: search spaces, workers sharing a study (a journal file, a real PostgreSQL), a worker
killed mid-trial, the report and its best recipe, and one-line errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from mnistlab import MnistlabError, load_recipe
from mnistlab.cli.main import main
from mnistlab.recipes import list_recipes
from mnistlab.runs.store import RUN_FILES, load_run
from mnistlab.sweeps import space_of
from mnistlab.sweeps.space import parse_space
from mnistlab.sweeps.study import ReportToTrial, open_storage
from browser import open_page
from postgres import postgres_server

SETTINGS = {"dataset": "digits", "model": "mlp-$width-relu", "optimizer": "adam", "epochs": 2}


def sweep_file(folder: Path, params: str, train: str = "", sweep: str = "", name: str = "digits-sweep") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(
        'description = "a small sweep on the 8x8 digits"\nkind = "sweep"\n\n[train]\ndataset = "digits"\n'
        f'model = "mlp-$width-relu"\noptimizer = "adam"\n{train or "epochs = 2"}\n\n[sweep]\n{sweep}\n[sweep.params]\n{params}\n',
        encoding="utf-8",
    )
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_trial_config_fills_placeholders_and_settings() -> None:
    space = parse_space({"params": {"width": [16, 32], "lr": {"low": 1e-3, "high": 1e-2, "log": True}}}, SETTINGS, "test")
    config = space.config({"width": 32, "lr": 0.005}, name="t")
    assert (config.model, config.lr, config.validation) == ("mlp-32-relu", 0.005, 0.1)
    assert not space.is_grid and space.trial_count == 20


def test_a_grid_runs_every_combination_once() -> None:
    space = parse_space({"params": {"width": [16, 32], "epochs": [1, 2, 3]}}, SETTINGS, "test")
    assert space.is_grid and space.trial_count == 6
    assert {(p["width"], p["epochs"]) for p in space.grid()} == {(w, e) for w in (16, 32) for e in (1, 2, 3)}


@pytest.mark.parametrize("params, message", [
    ({"width": [16], "momentum": [0.9]}, "unknown parameter 'momentum'"),
    ({"width": [16], "lr": {"low": 0.1, "high": 0.01}}, "an empty range"),
    ({"width": []}, "an empty list of choices"),
    ({"width": [16], "lr": {"low": 0, "high": 1, "log": True}}, "a log range needs low > 0"),
    ({"lr": [0.1]}, "uses $width but [sweep.params] does not define it"),
])
def test_bad_search_spaces_are_one_line_errors(params: dict, message: str) -> None:
    with pytest.raises(MnistlabError, match=message.replace("$", r"\$").replace("[", r"\[").replace("]", r"\]")):
        parse_space({"params": params}, SETTINGS, "test")


def test_a_sweep_never_validates_on_the_test_set() -> None:
    with pytest.raises(MnistlabError, match="never chooses on the test set"):
        parse_space({"params": {"width": [16]}, "validation": "test"}, SETTINGS, "test")


def test_the_pruning_callback_stops_a_trial_far_below_the_median() -> None:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2))
    for _ in range(3):
        trial = study.ask()
        for epoch in (1, 2):
            trial.report(0.9, epoch)
        study.tell(trial, 0.9)
    trial = study.ask()
    callback = ReportToTrial(trial)
    assert callback.on_epoch_end({"epoch": 1, "val_accuracy": 0.2}, None) is None  # the warm-up epoch is never pruned
    assert callback.on_epoch_end({"epoch": 2, "val_accuracy": 0.2}, None) == "pruned"


def test_the_notebooks_questions_are_ready_sweeps() -> None:
    sweeps = {r.name: r for r in list_recipes("sweep")}
    assert set(sweeps) == {"000-activation-width-sweep", "003-batch-size-sweep", "004-dropout-rate-sweep"}
    for name in sweeps:
        _, space = space_of(name)  # every grid point makes a trainable config with a model that builds
        assert space.is_grid
    assert {p["batch_size"] for p in space_of("003-batch-size-sweep")[1].grid()} == {32, 128, 10000}
    models = {space_of("000-activation-width-sweep")[1].config(p, "t").model for p in space_of("000-activation-width-sweep")[1].grid()}
    assert {"mlp-64-tanh", "mlp-64-32-tanh", "mlp-64-32-relu"} <= models  # the notebook's three models are cells of its grid


def test_a_sweep_recipe_is_not_trainable_alone(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "train", "003-batch-size-sweep")
    assert code == 2 and "mnistlab sweep 003-batch-size-sweep" in err


def test_sweep_with_two_workers_on_a_journal_file_then_resume_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MNISTLAB_THREADS")  # the workers share the cores
    recipe = sweep_file(tmp_path, "width = [8, 16, 32]\nlr = { low = 1e-3, high = 3e-2, log = true }", sweep="trials = 4")
    sweeps = tmp_path / "sweeps"
    code, out, err = run_cli(capsys, "sweep", str(recipe), "--workers", "2", "--sweeps-dir", str(sweeps))
    assert code == 0, err
    study = optuna.load_study(study_name="digits-sweep", storage=open_storage(None, sweeps / "digits-sweep", 10))
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(finished) >= 4 and not study.get_trials(states=(TrialState.RUNNING,))
    assert len({t.user_attrs["pid"] for t in finished}) == 2  # both workers ran trials
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        run = load_run(trial.user_attrs["run"])
        assert run.metrics["test_accuracy"] is None  # a trial never sees the test set
        assert run.metrics["val_accuracy"] == pytest.approx(trial.value)
        assert run.config.validation == 0.1 and run.metrics["threads"] == [1]  # 2 workers on 2 cores: 1 thread each
    best = max(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.value)
    assert list(study.user_attrs["tested"]) == [str(best.number)]  # the test set evaluated once, for the best
    assert f"best: trial {best.number}" in out
    recipe_path = sweeps / "digits-sweep" / "best.toml"
    tuned = load_recipe(recipe_path)
    assert tuned.kind == "tuned" and tuned.config.model == f"mlp-{best.params['width']}-relu"
    check = open_page((sweeps / "digits-sweep" / "report.html").as_uri(), tmp_path / "sweep.png")  # a real Chromium
    assert check.console_errors == [] and check.page_errors == []
    assert check.section_ids == ["trials", "optimization-history", "parallel-coordinates", "parameter-importances", "best"]
    assert len(check.images) == 3 and all(img["complete"] and img["width"] >= 400 for img in check.images), check.images
    # Resume by name: the same study, asked for more trials, runs only the missing ones.
    code, out, err = run_cli(capsys, "sweep", "--study", "digits-sweep", "--trials", "6", "--sweeps-dir", str(sweeps))
    assert code == 0, err
    assert len(study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))) >= 6
    code, out, _ = run_cli(capsys, "sweep", "report", "digits-sweep", "--sweeps-dir", str(sweeps))
    assert code == 0 and "trials finished" in out


def test_a_grid_shared_by_two_workers_runs_each_point_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = sweep_file(tmp_path, "width = [8, 16, 32, 64]", sweep="prune = false")
    code, _, err = run_cli(capsys, "sweep", str(recipe), "--workers", "2", "--sweeps-dir", str(tmp_path / "sweeps"))
    assert code == 0, err
    study = optuna.load_study(study_name="digits-sweep", storage=open_storage(None, tmp_path / "sweeps" / "digits-sweep", 10))
    assert sorted(t.params["width"] for t in study.get_trials()) == [8, 16, 32, 64]
    code, _, err = run_cli(capsys, "sweep", "--study", "digits-sweep", "--trials", "5", "--sweeps-dir", str(tmp_path / "sweeps"))
    assert code == 2 and "a grid of 4 points" in err


def test_bad_sweep_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (sweep_file(tmp_path, "width = [8]\nmomentum = [0.9]", name="a"), [], "unknown parameter 'momentum'"),
        (sweep_file(tmp_path, "width = [8]\nlr = { low = 0.5, high = 0.1 }", name="b"), [], "an empty range"),
        (sweep_file(tmp_path, "width = [8]", name="c"), ["--storage", "postgresql://nobody@127.0.0.1:9/none"], "cannot open the sweep storage"),
        ("001-cnn", [], "has no [sweep] table"),
    ]
    for recipe, extra, message in cases:
        code, _, err = run_cli(capsys, "sweep", str(recipe), "--sweeps-dir", str(tmp_path / "sweeps"), *extra)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    code, _, err = run_cli(capsys, "sweep", "report", "nothing-here", "--sweeps-dir", str(tmp_path / "sweeps"))
    assert code == 2 and "no sweep 'nothing-here'" in err


def test_postgresql_study_survives_a_worker_killed_mid_trial(tmp_path: Path) -> None:
    """Two workers share a study on a real PostgreSQL server; one is killed with SIGKILL while its trial runs.
    Its trial is failed once its heartbeat stops and run again; the study still finishes its trials."""
    recipe = sweep_file(tmp_path, "width = [8, 16, 32, 64]\nlr = { low = 1e-3, high = 3e-2, log = true }",
                        train="epochs = 40", sweep="trials = 6\nprune = false")
    sweeps = tmp_path / "sweeps"
    with postgres_server() as url:
        command = [sys.executable, "-m", "mnistlab", "sweep", str(recipe), "--workers", "2", "--storage", url,
                   "--heartbeat", "1", "--sweeps-dir", str(sweeps)]
        sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        storage = open_storage(url, sweeps, 1)
        victim = None
        deadline = time.monotonic() + 120
        while victim is None and time.monotonic() < deadline and sweep.poll() is None:
            try:
                running = optuna.load_study(study_name="digits-sweep", storage=storage).get_trials(states=(TrialState.RUNNING,))
            except KeyError:  # the study is not created yet
                running = []
            victim = next((t for t in running if "pid" in t.user_attrs), None)
            time.sleep(0.2)
        assert victim is not None, "no trial started"
        os.kill(victim.user_attrs["pid"], signal.SIGKILL)
        output, _ = sweep.communicate(timeout=300)
        assert sweep.returncode == 0, output
        assert "was killed (signal 9)" in output
        study = optuna.load_study(study_name="digits-sweep", storage=storage)
        trials = study.get_trials()
        killed = next(t for t in trials if t.number == victim.number)
        assert killed.state == TrialState.FAIL  # failed by the heartbeat, not left running
        assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
        completed = [t for t in trials if t.state == TrialState.COMPLETE]
        assert len(completed) >= 6
        for trial in completed:
            folder = Path(trial.user_attrs["run"])
            assert all((folder / name).is_file() for name in RUN_FILES)
            assert load_run(folder).metrics["epochs_run"] == 40
        assert (sweeps / "digits-sweep" / "best.toml").is_file() and (sweeps / "digits-sweep" / "report.html").is_file()
