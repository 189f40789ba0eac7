"""``reproduce``: train recipes over several seeds, ours and (optionally) the notebooks' own Keras code.

Every training is one ``Trial``, written to the results file (the JSON twin of the table) the
moment it finishes, so a long reproduction can be stopped and resumed: a trial already there
with the same settings is reused, not retrained (``fresh`` retrains everything).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from mnistlab.atomic import write_json
from mnistlab.config import TrainConfig, merge
from mnistlab.data.dataset import Dataset
from mnistlab.data.loaders import load_dataset
from mnistlab.errors import MnistlabError
from mnistlab.runs.train import versions
from mnistlab.threads import FreeCores
from mnistlab.workflow import train_and_report
from mnistlab.keras_reference.environment import HERE, KERAS_REQUIREMENTS, keras_environment, keras_python
from mnistlab.recipes import Recipe, trained_recipes
from mnistlab.training.progress import Progress

FRAMEWORKS = ("mnistlab", "keras")


@dataclass(frozen=True)
class Trial:
    """One training of one recipe with one seed, by mnistlab or by the notebook's Keras code."""

    recipe: str
    framework: str
    seed: int
    settings: str  # fingerprint of what was trained (settings_key)
    test_accuracy: float
    test_loss: float
    train_accuracy: float  # the last epoch's running figure, as Keras's history holds it
    train_loss: float
    epochs_run: int
    seconds: float
    versions: dict
    run: str | None = None  # mnistlab's run folder
    others_busy: float | None = None  # cores other processes kept busy while it trained (None: not recorded)
    machine: str | None = None  # the machine it trained on, as the results file's header names one (None: not recorded)
    threads: list[int] | None = None  # every thread count torch computed with, which the result depends on (None: not recorded)


def settings_key(recipe: Recipe, overrides: dict, framework: str) -> str:
    """A fingerprint of what a trial trains: the recipe's [train] table as written, the quick-try
    overrides (epochs, limit), and the framework's version. It stays the same when mnistlab fills
    in defaults differently; a change in what the code computes needs ``fresh``."""
    shortened = {k: overrides[k] for k in ("epochs", "limit") if overrides.get(k) is not None}
    engine = torch.__version__ if framework == "mnistlab" else " ".join(KERAS_REQUIREMENTS)
    text = json.dumps({"train": recipe.settings, "overrides": shortened, "framework": framework, "engine": engine}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class TrialStore:
    """The trials in a JSON file, rewritten atomically after each one is added, with the same-start
    comparisons (recipes/same_start.py) and the accuracy report's measurements (recipes/accuracy.py)
    kept beside them."""

    def __init__(self, path: Path, header: dict, fresh: bool = False) -> None:
        self.path, self.header = path, header
        self.trials: list[Trial] = []
        self.same_start: list[dict] = []
        self.measures: dict[str, dict] = {}
        self.stale: set[str] = set()  # measurements to make again (``--measure-again``), kept until each is replaced
        self.saved_header: dict = {}  # the header the file was last written with
        if path.is_file() and not fresh:
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
                self.trials = [Trial(**t) for t in saved.get("trials", [])]
                self.same_start = list(saved.get("same_start", []))
                self.measures = dict(saved.get("measures", {}))
                self.stale = set(saved.get("stale_measures", []))
                self.saved_header = {k: v for k, v in saved.items() if k not in ("trials", "same_start", "measures", "stale_measures")}
            except (json.JSONDecodeError, TypeError, AttributeError) as exc:
                raise MnistlabError(f"{path} is not a reproduction results file ({exc}); move it away or pass --fresh") from None

    def find(self, recipe: str, framework: str, seed: int, settings: str) -> Trial | None:
        return next((t for t in self.trials if (t.recipe, t.framework, t.seed, t.settings) == (recipe, framework, seed, settings)), None)

    def add(self, trial: Trial) -> None:
        self.trials = [t for t in self.trials if (t.recipe, t.framework, t.seed) != (trial.recipe, trial.framework, trial.seed)]
        self.trials.append(trial)
        self.save()

    def add_same_start(self, summary: dict) -> None:
        """Keep one same-start comparison per recipe, seed and epochs (the newest)."""
        key = ("recipe", "seed", "epochs")
        self.same_start = [s for s in self.same_start if [s[k] for k in key] != [summary[k] for k in key]] + [summary]
        self.save()

    def add_measure(self, key: str, measure: dict) -> None:
        self.measures[key] = measure
        self.stale.discard(key)
        self.save()

    def mark_stale(self, prefix: str) -> None:
        """Mark every measurement whose key starts with ``prefix`` to be made again; each stays until it is."""
        self.stale |= {key for key in self.measures if key.startswith(prefix)}
        self.save()

    def drop_stale(self, prefix: str) -> None:
        """Forget the measurements under ``prefix`` still marked to be made again."""
        self.measures = {k: v for k, v in self.measures.items() if not (k.startswith(prefix) and k in self.stale)}
        self.stale = {key for key in self.stale if not key.startswith(prefix)}
        self.save()

    def save(self) -> None:
        """Write the file, keeping only the measurements of trainings it still holds (a recipe changed and trained again
        replaces its seeds' trials, and with them what was measured of them)."""
        held = tuple(f"{t.recipe}/{t.settings}/" for t in self.trials)
        self.measures = {k: v for k, v in self.measures.items() if k.startswith(held)}
        self.stale &= self.measures.keys()
        extra = {"measures": self.measures} if self.measures else {}
        extra |= {"stale_measures": sorted(self.stale)} if self.stale else {}
        write_json(self.path, {**self.header, "trials": [asdict(t) for t in self.trials], "same_start": self.same_start, **extra})


@dataclass(frozen=True)
class KerasSide:
    """How to run a notebook's Keras code: an interpreter with Keras and a script speaking ``notebooks.py``'s interface."""

    python: Path
    script: Path = HERE / "notebooks.py"
    threads: int | None = None

    def train(self, recipe: str, seed: int, data: Path, epochs: int | None, same_start: Path | None = None) -> dict:
        """The notebook's code for ``recipe`` run once; ``same_start``: on that folder's batches (recipes/same_start.py)."""
        command = [str(self.python), str(self.script), "--recipe", recipe, "--seed", str(seed), "--data", str(data)]
        if epochs is not None:
            command += ["--epochs", str(epochs)]
        if same_start is not None:
            command += ["--same-start", str(same_start)]
        result = subprocess.run(command, capture_output=True, text=True, env=keras_environment(self.threads))
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        if result.returncode != 0 or not lines:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise MnistlabError(f"the Keras reference for {recipe} (seed {seed}) failed (exit code {result.returncode}): {last}")
        return json.loads(lines[-1])


def keras_data(dataset: Dataset, folder: Path) -> Path:
    """``dataset``'s uint8 arrays as the .npz the Keras side reads, written into ``folder`` once."""
    data = folder / f"{dataset.name}-{len(dataset.x_train)}.npz"
    if not data.exists():
        np.savez(data, x_train=dataset.x_train, y_train=dataset.y_train, x_test=dataset.x_test, y_test=dataset.y_test)
    return data


def default_keras_side() -> KerasSide:
    """The Keras environment mnistlab manages (created on first use)."""
    return KerasSide(keras_python())


@dataclass
class Reproduction:
    """What a call of ``reproduce`` ran: the store, the recipes, and how long each side trained now."""

    store: TrialStore
    recipes: list[Recipe]
    seeds: list[int]
    overrides: dict
    seconds_now: dict

    def config(self, recipe: Recipe) -> TrainConfig:
        return merge(recipe.config, self.overrides)

    def trials(self, recipe: Recipe, framework: str) -> list[Trial]:
        """This reproduction's trials of ``recipe`` by ``framework``, in seed order."""
        key = settings_key(recipe, self.overrides, framework)
        found = (self.store.find(recipe.name, framework, seed, key) for seed in self.seeds)
        return [t for t in found if t is not None]

    def with_saved(self, asked: list[Recipe], others: list[Recipe]) -> list[Recipe]:
        """``asked`` and each of ``others`` not among them whose trials (an exercise: every member's) the results file
        holds, by name: a report written for a few recipes keeps the rest of its file's, in the same order whichever were asked."""
        names = {r.name for r in asked}
        saved = [r for r in others if r.name not in names and all(self.trials(m, "mnistlab") for m in trained_recipes([r]))]
        return sorted(asked + saved, key=lambda r: r.name)


def reproduce(
    recipes: list[Recipe],
    seeds: list[int],
    results: Path,
    runs_dir: Path,
    data_dir: str | Path | None = None,
    device: str | None = None,
    keras: KerasSide | None = None,
    fresh: bool = False,
    epochs: int | None = None,
    limit: int | None = None,
    header: dict | None = None,
    train: bool = True,
    log: Callable[[str], None] = print,
) -> Reproduction:
    """Train every recipe (an exercise: its members) for every seed, ours then Keras's, seed by seed.

    ``epochs`` and ``limit`` shorten every training for a quick try; their trials are kept apart
    from full ones (the settings differ). ``header`` is saved at the top of the results file.
    Without ``train`` nothing is trained: the reproduction holds what the results file has.
    """
    store = TrialStore(results, {**(header or {}), "versions": versions()}, fresh)
    if not train and store.saved_header:  # what is saved now (same-start, measurements) keeps the header of the run that trained
        store.header = store.saved_header
    overrides = {"device": device, "epochs": epochs, "limit": limit}
    done = Reproduction(store, trained_recipes(recipes), seeds, {k: v for k, v in overrides.items() if v is not None}, {f: 0.0 for f in FRAMEWORKS})
    datasets: dict[str, Dataset] = {}
    if not train:
        return done
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in done.recipes:
            config = done.config(recipe)
            if config.dataset not in datasets:
                datasets[config.dataset] = load_dataset(config.dataset, data_dir)
            dataset = datasets[config.dataset].first(limit)
            for seed in seeds:
                _ours(done, recipe, replace(config, seed=seed), dataset, runs_dir, log)
                if keras is not None:
                    _theirs(done, recipe, replace(config, seed=seed), dataset, keras, Path(tmp), epochs, log)
    return done


def _ours(done: Reproduction, recipe: Recipe, config: TrainConfig, dataset: Dataset, runs_dir: Path, log: Callable[[str], None]) -> None:
    key = settings_key(recipe, done.overrides, "mnistlab")
    if done.store.find(recipe.name, "mnistlab", config.seed, key):
        return
    log(f"{recipe.name}, seed {config.seed}: mnistlab ...")
    out = runs_dir / recipe.name / f"seed-{config.seed}"
    run = train_and_report(config, out=out, progress=Progress(live=False), dataset=dataset, report=config.seed == done.seeds[0])
    last = run.history[-1]
    trial = Trial(
        recipe.name, "mnistlab", config.seed, key, run.metrics["test_accuracy"], run.metrics["test_loss"],
        last["accuracy"], last["loss"], run.metrics["epochs_run"], run.metrics["seconds"], run.metrics["versions"], str(out),
        run.metrics["others_busy"], done.store.header.get("machine"), run.metrics["threads"],
    )
    done.store.add(trial)
    done.seconds_now["mnistlab"] += trial.seconds


def _theirs(
    done: Reproduction, recipe: Recipe, config: TrainConfig, dataset: Dataset, keras: KerasSide, tmp: Path,
    epochs: int | None, log: Callable[[str], None],
) -> None:
    key = settings_key(recipe, done.overrides, "keras")
    if done.store.find(recipe.name, "keras", config.seed, key):
        return
    data = keras_data(dataset, tmp)
    log(f"{recipe.name}, seed {config.seed}: Keras ...")
    others = FreeCores()
    result = keras.train(recipe.name, config.seed, data, epochs)
    trial = Trial(
        recipe.name, "keras", config.seed, key, result["test_accuracy"], result["test_loss"], result["train_accuracy"],
        result["train_loss"], result["epochs_run"], result["seconds"], result["versions"], others_busy=round(others.others_busy(), 2),
        machine=done.store.header.get("machine"),
    )
    done.store.add(trial)
    done.seconds_now["keras"] += trial.seconds
    log(f"  test accuracy {trial.test_accuracy:.4f} in {trial.seconds:.1f} s ({trial.epochs_run} epochs)")
