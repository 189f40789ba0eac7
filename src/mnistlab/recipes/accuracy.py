"""The accuracy frontier (``mnistlab accuracy``): each best recipe over seeds, its seeds as one ensemble,
test-time augmentation (TTA), calibration and abstention, measured from the run folders.

Nothing is chosen on the test set. A best recipe's seeds hold out the same validation images (one
``split_seed``), and every choice is made on those: each model's temperature and thresholds
(prediction/calibrate.py), and whether TTA is used, for the single models and for the ensemble
alike (the higher mean validation accuracy wins; a tie keeps the plain model). Every model's test
accuracy is computed once, when it is made, and is reported whichever way the choice went.

The measurements are slow (an ensemble with TTA reads every image 25 times, 50 with mirrors), so each one is kept in
the results file (``measures`` beside the trials) the moment it is made, and a rerun resumes.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import torch

from mnistlab.data.dataset import Dataset
from mnistlab.data.loaders import load_dataset
from mnistlab.data.preprocess import prepare_images
from mnistlab.errors import MnistlabError
from mnistlab.evaluation.calibration import reliability_before_after
from mnistlab.prediction.abstention import measure, other_dataset
from mnistlab.prediction.calibrate import calibrate_saved_run
from mnistlab.prediction.decision import RULE_FILE, load_rule, save_rule
from mnistlab.prediction.ensemble import TTA_FOLDER, make_ensemble, tta_run
from mnistlab.recipes import Recipe
from mnistlab.recipes.reproduce import Reproduction, settings_key
from mnistlab.runs.store import RUN_FILES, Run, load_run


def calibration_on_test(run: Run, dataset: Dataset) -> tuple[float, float, float]:
    """(temperature, ECE before it, ECE after it) on the test set: an evaluation, nothing is chosen here. An ensemble or TTA
    run measured them when it was made (``make_ensemble``), which saves reading the test set again, 25 times over with TTA."""
    if "test_calibration" in run.metrics:
        made = run.metrics["test_calibration"]
        return made["temperature"], made["ece_before"], made["ece_after"]
    x = prepare_images(dataset.x_test, dataset.max_value, run.network.flat_input)
    probabilities = run.network.predict_proba(x).numpy()
    temperature = load_rule(run.path).thresholds.temperature
    before, after = reliability_before_after(probabilities, dataset.y_test, temperature)
    return temperature, before.ece, after.ece


def model_measures(run: Run, dataset: Dataset) -> dict:
    return {"val_accuracy": run.metrics["val_accuracy"], "test_accuracy": run.metrics["test_accuracy"],
            **dict(zip(("temperature", "ece_before", "ece_after"), calibration_on_test(run, dataset)))}


def same_weights(first: torch.nn.Module, second: torch.nn.Module) -> bool:
    """Whether two networks hold the same parameters and buffers."""
    a, b = first.state_dict(), second.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


def ensemble_of(runs: list[Run], folder: Path, tta: bool, dataset: Dataset) -> Run:
    """The ensemble of ``runs`` saved at ``folder``: the one there when its members are these runs as they are now, else
    made now. A seed trained again (its recipe changed) keeps its folder, so the folder names alone would not do."""
    members = [str(r.path) for r in runs]
    if all((folder / name).is_file() for name in RUN_FILES):
        made = load_run(folder)
        if (made.metrics.get("members") == members and made.metrics.get("tta") == tta
                and all(same_weights(saved, run.network) for saved, run in zip(made.network.members, runs))):
            return made
    return make_ensemble(runs, folder, tta=tta, dataset=dataset)


class Frontier:
    """Measures one best recipe's seeds, saving each measurement in the reproduction's results file as it is made."""

    def __init__(self, done: Reproduction, recipe: Recipe, runs_dir: Path, data_dir: str | Path | None, images: int,
                 log: Callable[[str], None]):
        self.done, self.recipe, self.runs_dir, self.data_dir, self.images, self.log = done, recipe, runs_dir, data_dir, images, log
        self.trials = done.trials(recipe, "mnistlab")
        self.rules_chosen: set[Path] = set()  # the runs whose decision rules were chosen again by this command
        self.prefix = f"{recipe.name}/{settings_key(recipe, done.overrides, 'mnistlab')}"

    @cached_property
    def members(self) -> list[Run]:
        """The seeds' runs, loaded once for both ensembles."""
        return [load_run(t.run) for t in self.trials]

    @cached_property
    def dataset(self) -> Dataset:
        return load_dataset(self.recipe.config.dataset, self.data_dir).first(self.done.overrides.get("limit"))

    @property
    def ensemble_folder(self) -> Path:
        return self.runs_dir / self.recipe.name / f"ensemble-{'-'.join(str(t.seed) for t in self.trials)}"

    def forget(self) -> None:
        """Mark this recipe's measurements to be made again (each kept until it is), remove the folders made for them (each
        seed's TTA run, the ensembles), and choose each seed's decision rule again, keeping the trainings: the measurements
        start again from the seeds' runs as the code now is."""
        missing = [t.run for t in self.trials if not Path(t.run).is_dir()]
        if missing:
            raise MnistlabError(f"{self.recipe.name}: {', '.join(missing)} not found; measuring again needs the seeds' runs "
                                "(train them again, or give the --runs-dir they were trained into)")
        for folder in [Path(t.run) / TTA_FOLDER for t in self.trials] + [self.ensemble_folder]:
            if folder.is_dir():
                shutil.rmtree(folder)
        self.done.store.mark_stale(f"{self.prefix}/")
        for run in self.members:
            self.choose_rule_again(run)

    def forget_abstention(self) -> None:
        """Measure this recipe's abstention again, each model choosing its decision rule again first: what a change to the
        rule moves, without making the TTA runs and ensembles again."""
        self.done.store.mark_stale(f"{self.prefix}/abstention-")

    def drop_stale(self) -> None:
        """Forget the measurements marked to be made again that were not (another image count's, say): they measured what is gone."""
        self.done.store.drop_stale(f"{self.prefix}/")

    def choose_rule_again(self, run: Run) -> None:
        self.log(f"{self.recipe.name}: choosing {run.path}'s decision rule again ...")
        save_rule(run.path, calibrate_saved_run(run, self.dataset))
        self.rules_chosen.add(run.path)

    def _kept(self, what: str, make: Callable[[], dict]) -> dict:
        key = f"{self.prefix}/{what}"
        if key not in self.done.store.measures or key in self.done.store.stale:
            self.log(f"{self.recipe.name}: measuring {what} ...")
            self.done.store.add_measure(key, make())
        return self.done.store.measures[key]

    # Run folders and datasets are loaded only for a measurement not yet kept, so the report can be
    # written again from the results file alone (a fresh clone has docs/accuracy.json, not the runs).
    def single_model(self, run_path: str, variant: str) -> Run:
        """A seed's run, as trained ("plain") or with TTA (its TTA run, made when missing)."""
        run = load_run(run_path)
        return run if variant == "plain" else tta_run(run, self.data_dir)

    def ensemble_model(self, variant: str) -> Run:
        """The seeds' ensemble, as trained ("plain") or with TTA, made when missing."""
        return ensemble_of(self.members, self.ensemble_folder / variant, variant == "tta", self.dataset)

    def seed(self, seed: int, run_path: str) -> dict:
        return {variant: self._kept(f"seed-{seed}" + ("-tta" if variant == "tta" else ""),
                                    lambda variant=variant: model_measures(self.single_model(run_path, variant), self.dataset))
                for variant in ("plain", "tta")}

    def ensemble(self) -> dict:
        def made(variant: str) -> dict:
            return {**model_measures(self.ensemble_model(variant), self.dataset), "path": str(self.ensemble_folder / variant)}

        return {variant: self._kept(self.ensemble_folder.name + ("-tta" if variant == "tta" else ""), lambda variant=variant: made(variant))
                for variant in ("plain", "tta")}

    def abstention(self, name: str, folder: Path, model: Callable[[], Run]) -> dict:
        """The abstention of the model in ``folder``, which ``model`` loads, or makes when the folder is gone."""
        what = f"abstention-{name}-{self.images}"
        again = f"{self.prefix}/{what}" in self.done.store.stale

        def measured() -> dict:
            chosen_before = (folder / RULE_FILE).is_file()  # a model made now has just chosen its rule
            run = model()
            if again and chosen_before and run.path not in self.rules_chosen:
                self.choose_rule_again(run)
            return measure(run, self.dataset, load_dataset(other_dataset(self.recipe.config.dataset), self.data_dir), self.images)

        return self._kept(what, measured)


def chosen(variants: dict[str, list[dict]]) -> str:
    """'tta' when its mean validation accuracy beats the plain models', else 'plain'."""
    mean = {name: sum(m["val_accuracy"] for m in models) / len(models) for name, models in variants.items()}
    return "tta" if mean["tta"] > mean["plain"] else "plain"


def frontier(done: Reproduction, recipe: Recipe, runs_dir: Path, data_dir: str | Path | None = None, images: int = 2000,
             log: Callable[[str], None] = print, again: str | None = None) -> dict:
    """Every measurement of ``recipe``'s trained seeds (see the module's docstring), made now where not yet kept, or
    again (``again``: "all" of them, or the "abstention" alone); abstention on ``images`` of each set."""
    measuring = Frontier(done, recipe, runs_dir, data_dir, images, log)
    if again == "all":
        measuring.forget()
    elif again == "abstention":
        measuring.forget_abstention()
    if not measuring.trials:
        return {"seeds": []}
    seeds = [{"seed": t.seed, "seconds": t.seconds, "others_busy": t.others_busy, "machine": t.machine, "threads": t.threads, "run": t.run,
              **measuring.seed(t.seed, t.run)} for t in measuring.trials]
    single = chosen({v: [s[v] for s in seeds] for v in ("plain", "tta")})
    first_folder = Path(seeds[0]["run"]) / (TTA_FOLDER if single == "tta" else "")
    first = measuring.abstention(f"seed-{seeds[0]['seed']}-{single}", first_folder, lambda: measuring.single_model(seeds[0]["run"], single))
    result = {"seeds": seeds, "single_choice": single, "abstention": {"single": first}}
    if len(seeds) > 1:
        ensemble = measuring.ensemble()
        result["ensemble"] = ensemble
        result["ensemble_choice"] = choice = chosen({v: [ensemble[v]] for v in ("plain", "tta")})
        result["abstention"]["ensemble"] = measuring.abstention(f"ensemble-{choice}", measuring.ensemble_folder / choice,
                                                                lambda: measuring.ensemble_model(choice))
    measuring.drop_stale()
    return result
