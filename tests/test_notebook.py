"""mnistlab in Jupyter: predict on what a notebook holds, rich displays, live training, generated and example notebooks in a real kernel."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient
from PIL import Image

from mnistlab import MnistlabError, TrainConfig, compare, load_run, train
from mnistlab.cli.main import main
from mnistlab.notebook import display
from mnistlab.prediction.decision import RULE_FILE
from mnistlab.sweeps.report import SweepReport
from mnistlab.training.progress import Progress
from mnistlab.prediction.abstention import photo_of

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.ipynb"))
SLICE = "LIMIT = 2000\nEPOCHS = 1"


def cli_predictions(capsys, run: Path, *inputs: str) -> list[dict]:
    assert main(["predict", str(run), *inputs, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_predict_takes_arrays_tensors_images_and_paths_as_the_cli_reads_them(capsys, cnn_run, mnist, tmp_path: Path) -> None:
    digits = mnist.x_test[:6]
    rng = np.random.default_rng(0)
    paths = []
    for i, digit in enumerate(digits):
        paths.append(tmp_path / f"{i}-digit.png")
        Image.fromarray(digit).save(paths[-1])
    photo = tmp_path / "photo.png"
    photo_of(mnist.x_test[7], rng).save(photo)
    cli = cli_predictions(capsys, cnn_run.path, *map(str, paths), str(photo))
    expected = [(row["class"], row["decision"], row["reason"]) for row in cli]
    expected_probabilities = np.array([list(row["probabilities"].values()) for row in cli])

    def answers(predictions) -> list[tuple]:
        return [(p.label, "unsure" if p.decision.unsure else p.class_names[p.decision.label], p.decision.reason) for p in predictions]

    forms = {
        "uint8 (N, 28, 28)": digits,
        "float 0-1 (N, 784)": digits.reshape(6, 784).astype(np.float32) / 255,
        "torch uint8 (N, 1, 28, 28)": torch.from_numpy(digits[:, None]),
        "PIL images": [Image.fromarray(d) for d in digits],
        "paths": paths,
    }
    for form, x in forms.items():
        got = cnn_run.predict(x)
        assert answers(got) == expected[:6], form
        np.testing.assert_allclose(got.probabilities, expected_probabilities[:6], atol=1e-5, err_msg=form)
    one = cnn_run.predict(digits[0])  # a single (28, 28) image
    assert len(one) == 1 and answers(one) == expected[:1]
    assert answers(cnn_run.predict(str(photo))) == expected[6:]  # a photo: dark on light, off-centre, prepared as the CLI does
    got = cnn_run.predict(digits)
    assert (got.classes == [row["class"] for row in cli[:6]]).all() and got.probabilities.shape == (6, 10)
    assert list(got.answered) == [row["decision"] != "unsure" for row in cli[:6]]
    assert got.decisions == [row["decision"] for row in cli[:6]] and got.to_dicts()[0]["input"] == "[0]"
    assert len(got[got.answered]) == int(got.answered.sum()) and len(got[1:3]) == 2


@pytest.mark.parametrize(("x", "said"), [
    (np.zeros((2, 28, 28), np.float32) + 255, "float pixels in 255..255 (float pixels must lie in 0-1"),
    (np.full((2, 28, 28), 300, np.int64), "int64 pixels in 300..300 (integer pixels must lie in 0..255)"),
    (np.zeros((2, 3, 28, 28)), "an array of shape (2, 3, 28, 28)"),
    (np.zeros((1, 2, 3, 4, 5)), "an array of shape (1, 2, 3, 4, 5)"),
    (np.zeros((2, 28, 28), bool), "an array of dtype bool"),
    (np.full((1, 28, 28), np.nan, np.float32), "float pixels with NaN or infinity"),
    (np.zeros((0, 28, 28), np.uint8), "an empty array"),
    ([], "an empty list"),
    ([[0, 1], [2, 3]], "a nested list at item 0"),
    (3.5, "an object of type float"),
    ("no-such-file.png", "no-such-file.png: no such file"),
])
def test_predict_says_what_it_received_and_what_it_accepts(cnn_run, x, said: str) -> None:
    with pytest.raises(MnistlabError) as caught:
        cnn_run.predict(x)
    message = str(caught.value)
    assert said in message and "\n" not in message
    if "no such file" not in said:
        assert message.endswith("predict accepts numpy arrays or torch tensors, uint8 0-255 or float 0-1, shaped (N, H, W), "
                                "(N, H*W), (N, 1, H, W) or (H, W); PIL images; image paths; or a list of these")


def test_api_names_stay_what_they_name_once_every_module_is_loaded() -> None:
    """Importing a subpackage sets it as an attribute of its parent: a subpackage named like an API
    function (``mnistlab.predict``) would replace the function after any code had loaded it."""
    import importlib
    import pkgutil
    import types

    import mnistlab

    for module in pkgutil.walk_packages(mnistlab.__path__, "mnistlab."):
        if not module.name.endswith("__main__"):  # that one runs the CLI
            importlib.import_module(module.name)
    for name in mnistlab.__all__:
        assert not isinstance(getattr(mnistlab, name), types.ModuleType), f"mnistlab.{name} is a module"
    assert callable(mnistlab.predict)


def test_a_run_saved_without_thresholds_gets_them_before_predicting(capsys, data_dir: Path, mnist, tmp_path: Path) -> None:
    run = train(TrainConfig(model="mlp-64-32-relu", epochs=1, limit=3000, validation=0.1), out=tmp_path / "run",
                progress=Progress(quiet=True), dataset=mnist)
    assert not (run.path / RULE_FILE).exists()
    first = run.predict(mnist.x_test[:50])
    assert (run.path / RULE_FILE).is_file() and "validation split (300 images" in capsys.readouterr().out
    assert load_run(run.path).predict(mnist.x_test[:50]).decisions == first.decisions  # the saved rule, reused
    assert (first.classes == mnist.y_test[:50]).mean() > 0.6


def test_displays_show_what_a_notebook_reader_needs(data_dir: Path, cnn_run, mnist, tmp_path: Path) -> None:
    page = display.dataset_html(mnist)
    assert "Dataset mnist" in page and "60,000" in page and page.count("<img") == 10 and "5,923" in page  # zeros in train
    model = display.network_html(cnn_run.network)
    assert "93,322" in model and "conv2d (Conv2D)" in model and "(None, 32, 26, 26)" in model
    shown = display.run_html(cnn_run)
    analysis, _ = display.run_analysis(cnn_run)
    assert f"{cnn_run.metrics['test_accuracy']:.4f}" in shown and "<svg" in shown and "Confusion matrix" in shown
    assert f">{analysis.confusion()[0, 0]}</td>" in shown and shown.count("<figure>") == 8
    assert f"test_accuracy={cnn_run.metrics['test_accuracy']:.4f}" in repr(cnn_run) and "60,000" in repr(mnist)
    predictions = cnn_run.predict(mnist.x_test[:30])
    table = display.predictions_html(predictions)
    assert table.count("<tr>") == 1 + 20 and "and 10 more" in table and f"{int(predictions.answered.sum())} answered" in table
    other = train(TrainConfig(model="mlp-64-tanh", optimizer="sgd", epochs=2, limit=2000), out=tmp_path / "mlp", progress=Progress(quiet=True), dataset=mnist)
    both = display.comparison_html(compare(cnn_run, other.path))
    assert "mlp-64-tanh" in both and "cnn" in both and both.count("<polyline") == 2
    report = SweepReport(["trial", "lr", "val acc"], [["0", "0.01", "0.9"], ["1", "0.1", "0.95"]], None, None,
                         tmp_path / "report.html", None, "2 trials, best 0.95")
    assert display.sweep_html(report).count("<tr>") == 3
    with pytest.raises(MnistlabError, match="compare needs two or more runs"):
        compare(cnn_run)


def execute(notebook: nbformat.NotebookNode, folder: Path, parameters: str | None = None) -> nbformat.NotebookNode:
    """Run every cell in a fresh ipykernel (python3, this interpreter), ``parameters`` replacing the tagged cell."""
    if parameters is not None:
        (cell,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
        cell.source = parameters
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    return notebook


def outputs(notebook: nbformat.NotebookNode, mime: str) -> list[str]:
    return [o["data"][mime] for c in notebook.cells if c.cell_type == "code" for o in c.outputs if mime in o.get("data", {})]


def widget_states(notebook: nbformat.NotebookNode) -> list[dict]:
    states = notebook.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return [s for s in states.values()]


def trained_runs(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((folder / "runs").glob("*/metrics.json"))]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_notebooks_run_top_to_bottom(data_dir: Path, tmp_path: Path, path: Path) -> None:
    notebook = execute(nbformat.read(path, as_version=4), tmp_path, SLICE)
    html = "".join(outputs(notebook, "text/html"))
    assert "Dataset " in html and "<h4>Run " in html and "Confusion matrix" in html  # the data, each run, its plot
    runs = trained_runs(tmp_path)
    assert runs and all(0 <= m["test_accuracy"] <= 1 and np.isfinite(m["test_loss"]) and m["epochs_run"] == 1 for m in runs)
    assert max(m["test_accuracy"] for m in runs) > 0.3  # each notebook learns something on its slice (chance: 0.1)
    bars = [s["state"] for s in widget_states(notebook) if s["model_name"] == "IntProgressModel"]
    assert len(bars) == len(runs) and all(b["value"] == b["max"] >= 1 for b in bars)  # one bar per training, ended full


def test_example_notebooks_follow_their_seed_notebooks() -> None:
    seeds = {p.name[:3]: p.name for p in (REPO.parent / "shared" / "seeds").glob("00?_*.txt")}
    assert sorted(p.name[:3] for p in EXAMPLES) == sorted(seeds)
    for path in EXAMPLES:
        text = path.read_text()
        assert seeds[path.name[:3]] in text  # each names its seed notebook
        for recipe in re.findall(r"load_recipe\(\\?'([\w-]+)\\?'\)", text):
            assert recipe.startswith(path.name[:3]), (path.name, recipe)


def test_generated_notebook_runs_and_trains_live_in_its_cell(capsys, data_dir: Path, cnn_run, tmp_path: Path) -> None:
    assert main(["notebook", str(cnn_run.path), "--out", str(tmp_path / "cnn.ipynb")]) == 0
    notebook = nbformat.read(tmp_path / "cnn.ipynb", as_version=4)
    assert [c.source.splitlines()[0] for c in notebook.cells if c.cell_type == "markdown"][1:] == [
        "## Load the data", "## Look at it", "## Build the model", "## Preprocess", "## Fit", "## Evaluate", "## Plot", "## Predict"]
    fit = next(c for c in notebook.cells if "run = train(" in c.source)
    fit.source = fit.source.replace("run = train(config, dataset=dataset)",
                                    "from mnistlab.training.notebook_progress import NotebookProgress\n"
                                    "run = train(config, dataset=dataset, progress=NotebookProgress(widgets=False))")
    execute(notebook, tmp_path, "LIMIT = 2000\nEPOCHS = 2")
    (live,) = [o for o in fit.outputs if o.output_type == "display_data"]  # one display, updated in place
    assert not any("Epoch" in o.get("text", "") for o in fit.outputs)  # no line per step or epoch
    assert live.output_type == "display_data" and "<progress" in live.data["text/html"]
    assert 'value="32" max="32"' in live.data["text/html"] and live.data["text/html"].count("<polyline") == 4  # loss and accuracy, train and validation
    assert "Epoch 2/2" in live.data["text/html"] and "run saved to runs/" in live.data["text/html"]
    (metrics,) = trained_runs(tmp_path)
    assert metrics["epochs_run"] == 2 and metrics["test_accuracy"] > 0.5
    predicted = next(c for c in notebook.cells if c.source.startswith("predictions = run.predict"))
    assert "12 predictions" in predicted.outputs[-1].data["text/html"]


def test_notebook_command_refuses_what_it_cannot_write(capsys, tmp_path: Path) -> None:
    assert main(["notebook", "003-batch-size"]) == 2
    assert "is an exercise comparing" in capsys.readouterr().err
    assert main(["notebook", "001-cnn", "--out", str(tmp_path / "cnn.txt")]) == 2
    assert "must end in .ipynb" in capsys.readouterr().err
    assert main(["notebook", "001-cnn", "--out", str(tmp_path / "cnn.ipynb")]) == 0
    text = (tmp_path / "cnn.ipynb").read_text()
    assert "001_cac10a44c0c8adee.txt" in text and "'batch_size': 64" in text and "EPOCHS = 5" in text


def test_readme_api_runs_in_a_kernel_and_shows_what_it_says(data_dir: Path, tmp_path: Path) -> None:
    block = (REPO / "README.md").read_text().split("## Python API and Jupyter", 1)[1]
    code = re.search(r"```python\n(.*?)```", block, re.S).group(1)
    lines = [line for line in code.splitlines() if line.strip()]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(line) for line in lines])
    execute(notebook, tmp_path)
    shown = {cell.source.split("#")[0].strip(): "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)
             for cell in notebook.cells}
    assert "Dataset fashion-mnist" in shown["dataset"]
    assert "111,146" in shown['build_model("mlp-128-64-32")'] and "Confusion matrix" in shown["run"]
    assert "5 predictions" in shown["run.predict(dataset.x_test[:5])"] and "Comparison of 2 runs" in shown["compare(run, other)"]
