"""Ensembles and test-time augmentation as run folders: made once, then evaluated, predicted with,
served and exported like any run.

``make_ensemble`` writes a folder whose network is ``models.ensemble.Ensemble`` over the members'
networks, with its own decision rule: the temperature and thresholds are chosen on the members'
validation split when they all hold out the same images (one ``split_seed``, validation fraction
and limit), the only images none of them was trained on; otherwise on training images, at
temperature 1, as for a run without a split (prediction/calibrate.py). The test set is evaluated once,
for the folder's metrics, and chooses nothing.

``--tta`` on ``predict`` and ``serve`` uses ``RUN/tta``, the run with test-time augmentation, made
on first use the same way (its averaged probabilities need thresholds of their own).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from mnistlab.data.dataset import Dataset
from mnistlab.data.loaders import load_dataset
from mnistlab.data.preprocess import prepare_images, to_tensors
from mnistlab.errors import MnistlabError
from mnistlab.evaluation.calibration import negative_log_likelihood, reliability_before_after
from mnistlab.models.ensemble import Ensemble
from mnistlab.models.summary import count_params
from mnistlab.prediction.calibrate import calibrate_run
from mnistlab.prediction.decision import save_rule
from mnistlab.prediction.engines import TorchEngine
from mnistlab.runs.store import RUN_FILES, Run, load_run, save_run
from mnistlab.runs.train import versions
from mnistlab.training.loop import evaluate_tensors

TTA_FOLDER = "tta"
TRAIN_ACCURACY_IMAGES = 10_000  # an ensemble's train accuracy is a guide, not a choice: a sample of the training images will do


def shared_holdout(runs: list[Run]) -> bool:
    """Whether every run held out the same validation images (and so none was trained on them)."""
    keys = {(r.config.validation, r.config.holdout_seed, r.config.limit) for r in runs}
    return len(keys) == 1 and isinstance(runs[0].config.validation, float)


def scored(probabilities: np.ndarray, labels: np.ndarray, split: str) -> dict[str, float]:
    """``{split}_loss`` (the mean cross-entropy) and ``{split}_accuracy`` of ``probabilities``."""
    return {f"{split}_loss": negative_log_likelihood(probabilities, labels),
            f"{split}_accuracy": float((probabilities.argmax(axis=1) == labels).mean())}


def make_ensemble(runs: list[Run], out: str | Path, tta: bool = False, dataset: Dataset | None = None,
                  data_dir: str | Path | None = None) -> Run:
    """Save the ensemble of ``runs`` (with test-time augmentation when ``tta``) as a run folder at ``out``."""
    first = runs[0]
    for run in runs:
        if isinstance(run.network, Ensemble):
            raise MnistlabError(f"{run.path} is itself an ensemble; give its members ({', '.join(run.metrics.get('members', []))}) instead")
    for run in runs[1:]:
        if run.config.dataset != first.config.dataset or run.class_names != first.class_names:
            raise MnistlabError(f"{run.path} was trained on {run.config.dataset} and {first.path} on {first.config.dataset}: "
                                "an ensemble's members must classify the same dataset")
        if run.config.mirrored != first.config.mirrored:  # the folder's config is the first member's, and TTA mirrors by it
            raise MnistlabError(f"{(run if run.config.mirrored else first).path} was trained with mirror images (horizontal_flip) "
                                f"and {(first if run.config.mirrored else run).path} without: an ensemble's members must all "
                                "be trained with mirror images or all without")
    network = Ensemble([r.network for r in runs], tta=tta, mirror=first.config.mirrored).eval()
    dataset = dataset or load_dataset(first.config.dataset, data_dir)
    held_out = shared_holdout(runs)
    # without images every member held out, the ensemble has no validation split, and says so to whoever chooses its rule again
    config = replace(first.config, name=f"ensemble-{len(runs)}" + ("-tta" if tta else ""), validation=first.config.validation if held_out else "none")
    data = to_tensors(dataset.first(config.limit), network.flat_input, config.validation, config.holdout_seed)
    # Each image set is read once (with TTA, 25 or 50 times over per member): the validation images serve the rule and the
    # metrics, the test images the metrics and the calibration error.
    engine = TorchEngine(network)
    val = engine.run(data.x_val.numpy()) if held_out else None
    rule = calibrate_run(network, data.x_train, data.y_train, data.x_val, data.y_val, config.seed, val_readings=val)  # as calibrate_saved_run
    test_probabilities = engine.run(prepare_images(dataset.x_test, dataset.max_value, network.flat_input).numpy())[0]
    sample = slice(TRAIN_ACCURACY_IMAGES)
    train_loss, train_accuracy = evaluate_tensors(network, data.x_train[sample], data.y_train[sample])
    held = scored(val[0], data.y_val.numpy(), "val") if val is not None else {}
    temperature = rule.thresholds.temperature
    before, after = reliability_before_after(test_probabilities, dataset.y_test, temperature)
    metrics = {
        "status": "ensemble",
        "members": [str(r.path) for r in runs],
        "member_test_accuracy": [r.metrics.get("test_accuracy") for r in runs],
        "tta": tta,
        "train_loss": train_loss,
        "train_accuracy": train_accuracy,
        "train_accuracy_images": len(data.y_train[sample]),
        **scored(test_probabilities, dataset.y_test, "test"),
        "test_calibration": {"temperature": temperature, "ece_before": before.ece, "ece_after": after.ece},
        **held,
        "epochs_run": max(r.metrics.get("epochs_run", 0) for r in runs),
        "params": count_params(network).total,
        "device": "cpu",  # where it was evaluated
        "seconds": sum(r.metrics.get("seconds", 0.0) for r in runs),  # what the members cost to train
        "dataset": {"name": dataset.name, "train": len(data.x_train), "test": len(dataset.y_test)},
        "versions": versions(),
    }
    path = save_run(out, config, network, [], metrics, first.class_names)
    save_rule(path, rule)
    return load_run(path)


def tta_run(run: Run, data_dir: str | Path | None = None) -> Run:
    """``RUN/tta``: the run with test-time augmentation and its own decision rule, made on first use."""
    folder = run.path / TTA_FOLDER
    if all((folder / name).is_file() for name in RUN_FILES):
        return load_run(folder)
    if not isinstance(run.network, Ensemble):
        members = [run]
    elif run.network.tta:
        return run
    else:
        try:
            members = [load_run(p) for p in run.metrics["members"]]
        except MnistlabError as exc:
            raise MnistlabError(f"{run.path} is an ensemble whose members cannot be loaded ({exc}); make it again with "
                                "`mnistlab ensemble RUN ... --tta`") from None
    print(f"Choosing decision thresholds for {run.path} with test-time augmentation (once; saved to {folder})")
    return make_ensemble(members, folder, tta=True, data_dir=data_dir)
