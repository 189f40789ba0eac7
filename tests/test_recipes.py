"""Recipes: every experiment of the five seed notebooks, its settings and reference read from the notebook itself."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from mnistlab import MnistlabError, list_recipes, load_recipe
from mnistlab.cli.main import main
from mnistlab.recipes import RENAMED, trainable
from mnistlab.recipes.reproduce import KerasSide, TrialStore, reproduce
from mnistlab.recipes.same_start import comparable, same_start
from mnistlab.recipes.reproduction_report import HEADERS, Spread, holm, keras_p_values, markdown_report, recipe_row, verdict, welch_p

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
EXPERIMENTS = {
    "000": {"000-mlp-64-tanh", "000-mlp-64-32-tanh", "000-mlp-64-32-relu"},
    "001": {"001-mlp-512", "001-cnn"},
    "002": {"002-mlp-512-512"},
    "003": {"003-mlp-512-512-dropout", "003-mlp-batch-32", "003-mlp-batch-10000", "003-batch-size", "003-cnn-bn-augmented"},
    "004": {"004-fashion-mlp", "004-fashion-mlp-dropout", "004-dropout-table", "004-digits-mlp"},
}


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_every_notebook_experiment_has_a_recipe() -> None:
    by_notebook: dict[str, set[str]] = {}
    for recipe in list_recipes():
        if recipe.kind != "sweep":  # the notebooks' questions as sweeps: tests/test_sweeps.py
            by_notebook.setdefault(recipe.notebook_number, set()).add(recipe.name)
    assert {k: v for k, v in by_notebook.items() if k} == EXPERIMENTS
    assert by_notebook[""] == {"fast-99", "fast-995", "best-mnist", "best-mnist-outliers", "best-fashion"}


@pytest.mark.parametrize("recipe", [r for r in list_recipes() if r.kind == "notebook"], ids=lambda r: r.name)
def test_reference_is_quoted_from_the_notebook(recipe) -> None:
    """The quote is the notebook's own text, its number is in the quote, and the epochs are the notebook's."""
    notebook = squeeze((SEEDS / recipe.notebook).read_text(encoding="utf-8"))
    ref = recipe.reference
    assert ref.source in ("printed", "prose", "none") and ref.cell and ref.reading
    assert squeeze(ref.quote) in notebook
    if ref.source == "printed":
        assert str(ref.test_accuracy) in ref.quote
    if ref.source == "prose":
        assert f"{100 * ref.test_accuracy:.1f}%" in ref.quote
    assert ref.source != "none" or ref.test_accuracy is None
    assert f"epochs={recipe.config.epochs}" in recipe.settings_from


def test_notebook_settings_that_keras_leaves_implicit() -> None:
    mlp_002 = load_recipe("002-mlp-512-512").config  # compile() and fit() without optimizer or batch size
    assert (mlp_002.optimizer, mlp_002.batch_size, mlp_002.validation) == ("rmsprop", 32, "test")
    fashion = load_recipe("004-fashion-mlp").config
    assert (fashion.epochs, fashion.batch_size, fashion.validation) == (500, 32, "none")
    assert fashion.early_stopping == {"monitor": "loss", "patience": 5}
    stopping = load_recipe("004-fashion-mlp-dropout").config.resolved().early_stopping
    assert stopping == {"monitor": "loss", "patience": 3, "min_delta": 0.0, "restore_best_weights": True}
    augment = load_recipe("003-cnn-bn-augmented").config.resolved().augment
    assert augment == {"rotation": 8.0, "shift": 0.08, "shear": 0.3, "zoom": 0.08, "horizontal_flip": False, "whole_pixel_shifts": False}
    assert [load_recipe(f"003-mlp-batch-{b}").config.batch_size for b in (32, 10000)] == [32, 10000]


def test_old_names_lead_to_the_new_recipes() -> None:
    for old, new in RENAMED.items():
        assert load_recipe(old).name == new
    with pytest.raises(MnistlabError, match="retired.*003-mlp-512-512-dropout"):
        load_recipe("nb3-mlp-512-512-dropout")


def test_best_recipes_can_choose_on_a_shared_validation_split() -> None:
    """``mnistlab accuracy`` makes every choice on the seeds' common held-out images, and judges two targets."""
    best = list_recipes("best")
    assert {r.name for r in best} >= {"best-mnist", "best-mnist-outliers"}
    for recipe in best:
        assert isinstance(recipe.config.validation, float) and recipe.config.split_seed is not None, recipe.name
        assert recipe.reference.source == "target" and recipe.reference.ensemble_accuracy > recipe.reference.test_accuracy
    with_outliers, without = load_recipe("best-mnist-outliers"), load_recipe("best-mnist")
    assert with_outliers.config.outliers == {} and without.config.outliers is None
    shared = ("dataset", "validation", "split_seed")  # the two are compared on the same held-out images
    assert {k: with_outliers.settings[k] for k in shared} == {k: without.settings[k] for k in shared}


def test_exercises_name_their_members() -> None:
    table = load_recipe("004-dropout-table")
    assert (table.members, table.labels, table.table, table.config) == (("004-fashion-mlp", "004-fashion-mlp-dropout"), ("N", "Y"), "dropout", None)
    with pytest.raises(MnistlabError, match="is an exercise"):
        trainable(table)
    assert load_recipe("003-batch-size").members == ("003-mlp-512-512-dropout", "003-mlp-batch-10000", "003-mlp-batch-32")


@pytest.mark.parametrize(
    ("reference", "values", "source", "expected"),
    [
        (0.9171, [0.915, 0.916, 0.917, 0.918, 0.919], "printed", "yes: in min–max, within 0.5 pp of mean"),
        (0.94, [0.90, 0.90, 0.90, 0.90, 0.95], "printed", "yes: in min–max"),
        (0.9171, [0.916, 0.917, 0.918, 0.919], "prose", "yes: within 0.5 pp of mean"),  # under 5 seeds: the range does not count
        (0.9171, [0.9121, 0.9121, 0.9121], "prose", "yes: within 0.5 pp of mean"),  # exactly 0.5 pp, not 0.5000000000000004
        (0.93, [0.920, 0.921, 0.922, 0.923, 0.924], "printed", "**no**"),
        (None, [0.9], "none", "n/a"),
        # a target is reached by the mean, not approached: in range and within 0.5 pp is still short
        (0.997, [0.9954, 0.9957, 0.9958, 0.9960, 0.9971], "target", "**no**: 0.10 pp short of 99.70%"),
        (0.995, [0.9948, 0.9950, 0.9951, 0.9953, 0.9958], "target", "yes: 99.50% reached"),
        (0.997, [0.9971, 0.9969, 0.9969, 0.9972, 0.9968], "target", "**no**: 0.002 pp short of 99.70%"),  # one image
        (0.997, [0.9964, 0.9964, 0.9972, 0.9974, 0.9976], "target", "yes: 99.70% reached"),  # their float mean is 0.99699...99
    ],
)
def test_verdict_rule(reference: float | None, values: list[float], source: str, expected: str) -> None:
    assert verdict(reference, Spread(tuple(values)), source) == expected


def test_welch_test() -> None:
    ours, theirs = Spread((0.91, 0.92, 0.93)), Spread((0.81, 0.82, 0.83))
    assert welch_p(ours, theirs) < 0.001
    assert welch_p(ours, Spread((0.92, 0.91, 0.93))) == pytest.approx(1.0)
    assert welch_p(ours, Spread((0.9,))) is None


def test_holm_adjusts_for_the_number_of_comparisons() -> None:
    # sorted 0.01, 0.03, 0.04: 3 x 0.01, 2 x 0.03, then max(0.06, 1 x 0.04) (never below the one before)
    assert holm({"a": 0.01, "b": 0.04, "c": 0.03}) == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})
    assert holm({"a": 0.5, "b": 0.9}) == {"a": 1.0, "b": 1.0}


# A stand-in for keras_reference/notebooks.py (the real one needs TensorFlow): the same command line,
# and numbers that depend on the recipe and the seed, so the test can find them in the report.
STAND_IN = """
import json, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
seed, dropout = int(args["--seed"]), args["--recipe"].endswith("dropout")
print("TensorFlow-style noise")
print(json.dumps({"test_accuracy": 0.5 + 0.01 * seed, "test_loss": 1.5, "train_accuracy": 0.25 if dropout else 0.75,
                  "train_loss": 2.0, "epochs_run": int(args["--epochs"]), "seconds": 1.0, "versions": {"keras": "3.x", "tensorflow": "2.x"}}))
"""


def test_reproduce_with_a_keras_side(tmp_path: Path, data_dir: Path) -> None:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    exercise = load_recipe("004-dropout-table")
    done = reproduce([exercise], [0, 1], tmp_path / "r.json", tmp_path / "runs", data_dir=data_dir,
                     keras=KerasSide(Path(sys.executable), script), epochs=1, limit=300, log=lambda _: None)
    saved = json.loads((tmp_path / "r.json").read_text())["trials"]
    assert sorted((t["recipe"], t["framework"], t["seed"]) for t in saved) == sorted(
        (r, f, s) for r in exercise.members for f in ("mnistlab", "keras") for s in (0, 1))
    text = markdown_report(done, [exercise], "mnistlab reproduce 004-dropout-table", "test machine", tmp_path)
    assert "| 0.5050 ± 0.0071 | 0.5000–0.5100 |" in text  # Keras's mean ± sd and min–max, from the stand-in
    assert "| N | Train | 0.9590 |" in text and "| 0.7500 ± 0.0000 |" in text and "| Y | Test | 0.8814 |" in text
    assert "Keras 3.x on TensorFlow 2.x" in text
    assert all(t["others_busy"] is not None and t["others_busy"] >= 0 for t in saved)  # each trial's time has its context

    quiet = [replace(t, others_busy=0.0) for t in done.store.trials]
    member = load_recipe("004-fashion-mlp")
    time_column = HEADERS.index("s per seed, ours / Keras")
    done.store.trials = quiet
    ours_mean = sum(t.seconds for t in done.trials(member, "mnistlab")) / 2
    assert recipe_row(done, member, keras_p_values(done, [member]))[time_column] == f"{ours_mean:.1f} / 1.0"
    done.store.trials = [replace(t, others_busy=1.2) if t.framework == "keras" and t.seed == 1 else t for t in quiet]
    assert recipe_row(done, member, {})[time_column].endswith(" / 1.0†")  # one busy seed marks the mean
    done.store.trials = [replace(t, others_busy=None) if t.framework == "mnistlab" else t for t in quiet]
    assert "†" in recipe_row(done, member, {})[time_column].split(" / ")[0]  # not recorded: not a figure either


def test_a_failing_keras_side_is_one_error(tmp_path: Path, data_dir: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text("import sys\nsys.exit('ImportError: No module named keras')\n")
    with pytest.raises(MnistlabError, match=r"Keras reference for 004-digits-mlp \(seed 0\) failed \(exit code 1\): ImportError"):
        reproduce([load_recipe("004-digits-mlp")], [0], tmp_path / "r.json", tmp_path / "runs",
                  keras=KerasSide(Path(sys.executable), script), epochs=1, log=lambda _: None)
    assert [t["framework"] for t in json.loads((tmp_path / "r.json").read_text())["trials"]] == ["mnistlab"]  # ours is kept


def test_a_results_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text('[{"recipe": "nb2-cnn", "ours": 0.99}]')
    with pytest.raises(MnistlabError, match="is not a reproduction results file"):
        TrialStore(path, {})
    assert TrialStore(path, {}, fresh=True).trials == []


def test_recipe_file_by_path_with_custom_layers(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(
        'description = "a custom stack"\n[train]\ndataset = "digits"\noptimizer = "adam"\n'
        'model = [{ type = "dense", units = 16, activation = "relu" }, { type = "dense", units = 10, activation = "softmax" }]\n'
    )
    recipe = load_recipe(str(path))
    assert recipe.name == "tiny" and recipe.config.model[0]["units"] == 16


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[train\n", "not readable TOML"),
        ('title = "x"\n[train]\n', "unknown key"),
        ('description = "x"\n', "no \\[train\\] table"),
        ('[train]\nepochz = 3\n', "unknown setting"),
        ('kind = "homework"\n[train]\n', "kind must be one of notebook, speed, best, exercise"),
        ('[train]\n[reference]\nsource = "rumour"\n', "source must be one of printed, prose, none, target"),
        ('[train]\n[reference]\ntest_accuracy = 0.9\n', "needs a source"),
        ('[train]\n[reference]\nsource = "printed"\ntest_accuracy = 99.1\n', "must be a fraction"),
        ('[train]\n[reference]\nsource = "printed"\ntest_accuracy = true\n', "must be a fraction"),
        ('kind = "exercise"\nmembers = ["004-fashion-mlp"]\ntable = "dropout"\n', "one label per member"),
        ('kind = "exercise"\nmembers = ["001-cnn"]\nlabels = ["a"]\ntable = "pie"\n', "table must be one of"),
    ],
)
def test_bad_recipe_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(MnistlabError, match=message):
        load_recipe(str(path))


# The notebook-000 model (784 -> 64 tanh -> 10 softmax, plain SGD at Keras's 0.01, batch 64) in numpy float64,
# speaking notebooks.py's --same-start protocol: an independent implementation for mnistlab to agree with step by step.
SGD_IN_NUMPY = """
import json, sys
import numpy as np
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
folder, lr = args["--same-start"], LEARNING_RATE
rng = np.random.default_rng(int(args["--seed"]))
with np.load(args["--data"]) as d:
    x, y = d["x_train"].reshape(len(d["x_train"]), -1) / 255.0, d["y_train"]
    x_test, y_test = d["x_test"].reshape(len(d["x_test"]), -1) / 255.0, d["y_test"]
limit = lambda fan_in, fan_out: (6 / (fan_in + fan_out)) ** 0.5
k1, b1 = rng.uniform(-limit(784, 64), limit(784, 64), (784, 64)).astype(np.float32), np.zeros(64, np.float32)
k2, b2 = rng.uniform(-limit(64, 10), limit(64, 10), (64, 10)).astype(np.float32), np.zeros(10, np.float32)
np.savez(folder + "/initial.npz", k1, b1, k2, b2)
k1, b1, k2, b2 = (a.astype(np.float64) for a in (k1, b1, k2, b2))

def forward(xb):
    h = np.tanh(xb @ k1 + b1)
    z = h @ k2 + b2
    p = np.exp(z - z.max(1, keepdims=True))
    return h, p / p.sum(1, keepdims=True)

losses = []
for order in np.load(folder + "/orders.npy"):
    total = seen = 0
    for start in range(0, len(order), 64):
        i = order[start:start + 64]
        h, p = forward(x[i])
        total, seen = total - np.log(p[np.arange(len(i)), y[i]]).sum(), seen + len(i)
        losses.append(total / seen)
        g = p.copy()
        g[np.arange(len(i)), y[i]] -= 1
        g /= len(i)
        gh = (g @ k2.T) * (1 - h ** 2)
        k2 -= lr * h.T @ g; b2 -= lr * g.sum(0); k1 -= lr * x[i].T @ gh; b1 -= lr * gh.sum(0)
np.save(folder + "/losses.npy", np.array(losses))
p = forward(x_test)[1]
print(json.dumps({"test_accuracy": float((p.argmax(1) == y_test).mean()), "test_loss": float(-np.log(p[np.arange(len(p)), y_test]).mean())}))
"""


@pytest.mark.parametrize(("learning_rate", "agreeing"), [(0.01, "all"), (0.02, 1)])
def test_same_start_follows_an_independent_implementation_step_by_step(tmp_path: Path, mnist, learning_rate, agreeing) -> None:
    """Same weights, same batches: mnistlab agrees with a float64 numpy SGD at every step, and a different
    learning rate parts at the second step (the first step's loss comes before any update)."""
    script = tmp_path / "sgd.py"
    script.write_text(SGD_IN_NUMPY.replace("LEARNING_RATE", str(learning_rate)))
    dataset = mnist.first(640)
    result = same_start(load_recipe("000-mlp-64-tanh"), 2, 3, KerasSide(Path(sys.executable), script), tmp_path / "start", dataset=dataset)
    assert len(result.ours) == len(result.keras) == 2 * 10 and result.steps_per_epoch == 10
    assert result.steps_agreeing == (len(result.ours) if agreeing == "all" else agreeing)
    if agreeing == "all":
        assert result.test_ours[1] == pytest.approx(result.test_keras[1], abs=1e-4)  # the same network at the end
        assert result.test_ours[0] == pytest.approx(result.test_keras[0], rel=1e-4)
    saved = json.loads((tmp_path / "start" / "same-start.json").read_text())
    assert saved["steps_agreeing"] == result.steps_agreeing and len(saved["ours"]) == 20


def test_same_start_takes_dense_recipes_only() -> None:
    for name, why in [("003-mlp-512-512-dropout", "it has dropout layers"), ("001-cnn", "it has conv2d, flatten, maxpool2d layers")]:
        with pytest.raises(MnistlabError, match=f"{name} cannot start the same on both sides: {why}"):
            comparable(load_recipe(name))
    comparable(load_recipe("004-fashion-mlp"))  # a dense MLP with a linear first layer: comparable


def test_reproduce_takes_a_recipe_file_of_ones_own(capsys, tmp_path: Path) -> None:
    own = tmp_path / "my-mlp.toml"
    own.write_text('description = "digits MLP"\nkind = "speed"\n\n[train]\ndataset = "digits"\nmodel = "mlp-128-64-32"\n'
                   'optimizer = "adam"\nepochs = 2\n')
    assert main(["reproduce", str(own), "--seeds", "2", "--table", str(tmp_path / "r.md"), "--runs-dir", str(tmp_path / "runs")]) == 0
    saved = json.loads((tmp_path / "r.json").read_text())["trials"]
    assert [(t["recipe"], t["seed"]) for t in saved] == [("my-mlp", 0), ("my-mlp", 1)]
    report = (tmp_path / "r.md").read_text()
    assert "| [my-mlp](runs/my-mlp/seed-0/report.html) |" in report and "- **my-mlp** — digits MLP\n" in report
