"""The command line: every subcommand as a user runs it."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mnistlab.cli.main import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_installed_entry_point() -> None:
    result = subprocess.run([sys.executable, "-m", "mnistlab", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("mnistlab ")


def test_data_list(capsys) -> None:
    code, out, _ = run_cli(capsys, "data", "list")
    assert code == 0 and {"mnist", "fashion-mnist", "digits"} <= {line.split()[0] for line in out.splitlines()}


def test_data_info_counts(capsys, data_dir: Path) -> None:
    code, out, _ = run_cli(capsys, "data", "info", "mnist")
    assert code == 0 and "train: 60000 images, test: 10000 images, 28x28" in out
    assert "5923" in out and "1135" in out


def test_data_fetch_prints_local_paths(capsys, tiny_mnist_dir: Path) -> None:
    code, out, _ = run_cli(capsys, "data", "fetch", "mnist", "--data-dir", str(tiny_mnist_dir))
    assert code == 0 and len(out.splitlines()) == 4 and str(tiny_mnist_dir) in out


def test_models_lists_counts(capsys) -> None:
    code, out, _ = run_cli(capsys, "models")
    assert code == 0 and "93,322" in out and "669,706" in out


def test_train_evaluate_runs(capsys, tmp_path: Path, tiny_mnist_dir: Path) -> None:
    out_dir = tmp_path / "cli-run"
    code, out, _ = run_cli(
        capsys, "train", "--model", "cnn", "--epochs", "2", "--batch-size", "32",
        "--data-dir", str(tiny_mnist_dir), "--out", str(out_dir), "--name", "tiny",
    )
    assert code == 0
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "val_accuracy" in out
    assert f"run saved to {out_dir}" in out
    code, out, _ = run_cli(capsys, "evaluate", str(out_dir), "--data-dir", str(tiny_mnist_dir))
    assert code == 0 and out.startswith("Test accuracy: ") and "(100 images)" in out
    code, out, _ = run_cli(capsys, "runs", "--dir", str(tmp_path))
    assert code == 0 and str(out_dir) in out and "mnist" in out


def test_train_recipe_with_overrides(capsys, tmp_path: Path) -> None:
    code, out, _ = run_cli(capsys, "train", "004-digits-mlp", "--epochs", "2", "--quiet", "--runs-dir", str(tmp_path))
    assert code == 0 and out.startswith("Test accuracy: ")
    (run_dir,) = tmp_path.iterdir()
    assert run_dir.name.endswith("-004-digits-mlp")
    code, out, _ = run_cli(capsys, "train", "--config", str(run_dir / "config.json"), "--quiet", "--out", str(tmp_path / "replay"))
    assert code == 0 and (tmp_path / "replay" / "model.safetensors").is_file()


def test_the_command_line_starts_without_torch() -> None:
    """--help, models and recipes import neither torch nor the heavy libraries: they start in a fraction of a second."""
    code = (
        "import sys\n"
        "from mnistlab.cli.main import main\n"
        "for args in (['models'], ['recipes'], ['data', 'list']):\n"
        "    assert main(args) == 0\n"
        "heavy = sorted({'torch', 'sklearn', 'scipy', 'matplotlib'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    help_text = subprocess.run([sys.executable, "-m", "mnistlab", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "reproduce" in help_text.stdout


def test_train_bad_input_is_one_line(capsys) -> None:
    for args in (["train", "no-such-recipe"], ["train", "--model", "resnet", "--dataset", "digits"], ["train", "--validation", "2"]):
        code, out, err = run_cli(capsys, *args)
        assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("mnistlab: error: ")


def test_recipes_list_the_notebooks(capsys) -> None:
    code, out, _ = run_cli(capsys, "recipes")
    assert code == 0
    names = {line.split()[0] for line in out.splitlines()[1:]}
    assert {"000-mlp-64-tanh", "001-cnn", "002-mlp-512-512", "003-batch-size", "004-dropout-table", "004-digits-mlp"} <= names
    assert "0.9171 (printed)" in out and "0.9930 (prose)" in out


def test_renamed_recipe_still_trains_and_says_its_new_name(capsys, tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, "train", "nb5-digits-mlp", "--epochs", "1", "--quiet", "--out", str(tmp_path / "run"))
    assert code == 0 and "now called 004-digits-mlp" in err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["name"] == "004-digits-mlp"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "nb3-mlp-512-512-dropout"], "was retired"),
        (["train", "004-dropout-table"], "is an exercise comparing 004-fashion-mlp, 004-fashion-mlp-dropout"),
        (["reproduce", "--notebook", "007"], "no recipes come from notebook '007'"),
        (["reproduce", "--seeds", "0"], "--seeds must be a positive integer"),
    ],
)
def test_recipe_mistakes_are_one_line(capsys, args: list[str], message: str) -> None:
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_reproduce_writes_table_and_resumes(capsys, tmp_path: Path) -> None:
    table = tmp_path / "reproduction.md"
    args = ["reproduce", "004-digits-mlp", "--seeds", "2", "--epochs", "3", "--table", str(table), "--runs-dir", str(tmp_path / "runs")]
    code, out, _ = run_cli(capsys, *args)
    text = table.read_text()
    assert code == 0 and "## `004_e1a69a385d39219c.txt`" in text
    assert "[004-digits-mlp](runs/004-digits-mlp/seed-0/report.html)" in text and "| — | " in text and "| 2 | n/a |" in text
    trials = json.loads(table.with_suffix(".json").read_text())["trials"]
    assert [(t["recipe"], t["framework"], t["seed"], t["epochs_run"]) for t in trials] == [("004-digits-mlp", "mnistlab", s, 3) for s in (0, 1)]
    assert (tmp_path / "runs" / "004-digits-mlp" / "seed-1" / "metrics.json").is_file()
    # the same command again trains nothing: every trial is reused
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and "seed 0: mnistlab" not in out and "Trained now: ours 0.0 min" in out
    assert json.loads(table.with_suffix(".json").read_text())["trials"] == trials
    # --no-train with more seeds reports the two there are, and says which command made them
    table.unlink()
    code, out, _ = run_cli(capsys, *args[:2], "--seeds", "5", *args[4:], "--no-train")
    assert code == 0 and "seed 2" not in out and "| 2 | n/a |" in table.read_text()
    assert "Generated by `mnistlab reproduce 004-digits-mlp --seeds 2 --epochs 3 --table" in table.read_text()
    # naming another recipe keeps on the page the recipes its JSON holds
    code, out, _ = run_cli(capsys, "reproduce", "004-fashion-mlp", *args[2:], "--no-train")
    assert code == 0 and "[004-digits-mlp](runs/004-digits-mlp/seed-0/report.html)" in table.read_text()


def test_ctrl_c_keeps_an_interrupted_run(tmp_path: Path, data_dir: Path) -> None:
    out_dir = tmp_path / "interrupted"
    command = [sys.executable, "-m", "mnistlab", "train", "--model", "cnn", "--epochs", "50", "--limit", "5000", "--out", str(out_dir)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first_line = process.stdout.readline()  # printed once the Ctrl-C handler is in place
    assert first_line.startswith("Training "), first_line + process.stderr.read()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Interrupted during epoch 1; the run is kept." in out
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["epochs_run"] == 1


@pytest.mark.parametrize(
    "args",
    [
        ["explore", "digits", "--seed", "-1"],
        ["summary", "cnn", "--classes", "0"],
        ["train", "--dataset", "digits", "--restore-best"],
        ["train", "--dataset", "digits", "--lr", "-1"],
        ["bench", "--quick", "--out", "bench.json"],
        ["loadtest", "localhost:8000/predict", "--clients", "2", "--requests", "1"],
        ["predict", "no-such-run", "x.png"],
    ],
    ids=["negative-seed", "zero-classes", "restore-best-alone", "negative-lr", "bench-json-out", "url-without-scheme", "missing-run"],
)
def test_more_bad_input_is_one_line(capsys, args: list[str]) -> None:
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("mnistlab: error: "), err


def test_serve_fails_before_starting_on_a_bad_run(capsys, tmp_path: Path) -> None:
    from mnistlab import TrainConfig, train
    from mnistlab.training.progress import Progress

    run = train(TrainConfig(name="d", dataset="digits", model="mlp-64-tanh", epochs=1), out=tmp_path / "run",
                progress=Progress(quiet=True))
    code, out, err = run_cli(capsys, "serve", str(run.path), "--engine", "onnx", "--port", "9")
    assert code == 2 and "model.onnx does not exist" in err and "Serving" not in out


@pytest.mark.parametrize(("values", "message"), [({"lr": "0.01"}, "lr must be"), ({"seed": True}, "seed must be"), ({"epochs": True}, "epochs must be")])
def test_config_types_are_checked(values: dict, message: str) -> None:
    from mnistlab import MnistlabError, TrainConfig

    with pytest.raises(MnistlabError, match=message):
        TrainConfig(**values)


def rewrite_json(path: Path, **changes: object) -> None:
    """``path``'s JSON table with ``changes`` made (None removes a key)."""
    table = {**json.loads(path.read_text()), **changes}
    path.write_text(json.dumps({k: v for k, v in table.items() if v is not None}))


def test_damaged_runs_are_one_line_each_and_listed(capsys, tmp_path: Path) -> None:
    code, _, _ = run_cli(capsys, "train", "004-digits-mlp", "--epochs", "1", "--quiet", "--out", str(tmp_path / "runs" / "good"))
    assert code == 0
    good = tmp_path / "runs" / "good"
    damages = {
        "truncated-weights": lambda d: (d / "model.safetensors").write_bytes((good / "model.safetensors").read_bytes()[:100]),
        "bad-json": lambda d: (d / "config.json").write_text("{not json"),
        "missing-history": lambda d: (d / "history.csv").unlink(),
        "bad-metrics": lambda d: (d / "metrics.json").write_text("[]"),
        "text-accuracy": lambda d: rewrite_json(d / "metrics.json", test_accuracy="0.9"),
        "bad-calibration": lambda d: rewrite_json(d / "metrics.json", test_calibration={"temperature": 1.1, "ece_before": "0.01"}),
        "no-class-names": lambda d: rewrite_json(d / "architecture.json", class_names="0123456789"),
        "no-dataset": lambda d: rewrite_json(d / "config.json", dataset=None),
    }
    for name, damage in damages.items():
        shutil.copytree(good, tmp_path / "runs" / name)
        damage(tmp_path / "runs" / name)
    said = {"truncated-weights": "model.safetensors is damaged", "bad-json": "config.json is unreadable", "missing-history": "missing history.csv",
            "text-accuracy": "metrics.json is damaged (test_accuracy is not what a run saves)",
            "bad-calibration": "metrics.json is damaged (test_calibration is not what a run saves)",
            "no-class-names": "architecture.json is damaged (class_names must be a list of names", "no-dataset": "config.json is damaged (it does not say"}
    for name, words in said.items():
        for command in (["predict", str(tmp_path / "runs" / name), "-"], ["report", str(tmp_path / "runs" / name)]):
            code, _, err = run_cli(capsys, *command)
            assert code == 2 and len(err.strip().splitlines()) == 1 and words in err, (command, err)
    code, out, _ = run_cli(capsys, "runs", "--dir", str(tmp_path / "runs"))
    status = {line.split()[0].split("/")[-1]: line.split(None, 7)[-1] for line in out.splitlines()[1:]}
    assert code == 0 and set(status) == {"good", *damages}
    assert status["good"] == "completed" and status["truncated-weights"] == "completed"  # listing reads metrics only
    assert status["missing-history"].startswith("damaged: incomplete: missing history.csv")
    assert status["bad-metrics"].startswith("damaged: ") and "metrics.json is damaged" in status["bad-metrics"]
    assert "test_accuracy is not what a run saves" in status["text-accuracy"]


def test_damaged_run_folder_is_one_line(capsys, tmp_path: Path) -> None:
    code, _, _ = run_cli(capsys, "train", "004-digits-mlp", "--epochs", "1", "--quiet", "--out", str(tmp_path / "run"))
    assert code == 0
    (tmp_path / "run" / "history.csv").write_text("epoch,loss\n1,not-a-number\n")
    code, _, err = run_cli(capsys, "evaluate", str(tmp_path / "run"))
    assert code == 2 and "is damaged" in err and len(err.strip().splitlines()) == 1
