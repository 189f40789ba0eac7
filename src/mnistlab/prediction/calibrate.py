"""Choosing a run's decision rule: temperature and thresholds from held-out images; the typicality check's references
from the training images the model answers right; whether the check centres the features, from scribbles
(data/scribbles.py) and the two kinds of noise pictures (data/noise.py), drawn from a seed of their own: non-digits no
recipe trains on.

Held-out means the run's validation split, carved from the training set before training. A run
without one (the notebooks validate on the test set, or not at all) takes its thresholds from a
stratified sample of its training images instead, and its ``decision.json`` says so; it is not
calibrated (temperature 1), since images the model was trained on say nothing of its confidence on
new ones. The test set is never used to choose anything.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch

from mnistlab.data.dataset import Dataset
from mnistlab.data.noise import noise_by_kind
from mnistlab.data.preprocess import prepare_images, to_tensors
from mnistlab.data.scribbles import scribbles
from mnistlab.data.split import stratified_holdout
from mnistlab.evaluation.calibration import fit_temperature, with_temperature
from mnistlab.models.network import Network
from mnistlab.models.zoo import image_shape_for
from mnistlab.prediction.decision import (RULE_FILE, DecisionRule, Thresholds, choose_thresholds, choose_typicality, confidently_right,
                                          reference_count, rule_damaged, save_rule, with_distance)
from mnistlab.prediction.engines import TorchEngine
from mnistlab.runs.store import Run

CALIBRATION_IMAGES = 5_000  # training images the thresholds are chosen on when a run has no validation split
REFERENCE_BATCH = 4_096  # training images read at a time while gathering the typicality check's references
OUTLIERS, OUTLIERS_SEED = 1_000, 987_654  # pictures of each kind of non-digit that choose between the typicality checks


@cache
def choice_outliers(side: int) -> tuple[np.ndarray, ...]:
    """The scribbles, uniform noise and smooth blotches of OUTLIERS_SEED, drawn once a process (about a second). Each kind is
    its own set, so that a check answering most of one kind loses however few of the others it answers."""
    return scribbles(OUTLIERS, OUTLIERS_SEED, side), *noise_by_kind(OUTLIERS, OUTLIERS_SEED, side)


def outliers_for(network: Network) -> list[np.ndarray]:
    """``choice_outliers`` in the layout the network reads, scaled to its images' shape."""
    height, width = image_shape_for(network.input_shape)
    found = []
    for pictures in choice_outliers(height):
        x = torch.nn.functional.interpolate(prepare_images(pictures, 255, False), size=(height, width), mode="bilinear")
        found.append((x.flatten(1) if network.flat_input else x).numpy())
    return found


def answered_references(engine: TorchEngine, fit: tuple[torch.Tensor, torch.Tensor], thresholds: Thresholds, most: int) -> np.ndarray:
    """The features of the first ``most`` training images of ``fit`` (images and labels) the model answers right at the
    ``thresholds``' confidence, reading no more of them than it needs."""
    found: list[np.ndarray] = []
    for start in range(0, len(fit[0]), REFERENCE_BATCH):
        images, labels = (t[start : start + REFERENCE_BATCH].cpu().numpy() for t in fit)
        probabilities, features = engine.run(images)
        found.append(features[confidently_right(with_temperature(probabilities, thresholds.temperature), labels, thresholds)])
        if sum(map(len, found)) >= most:
            break
    return np.concatenate(found)[:most]


def calibrate(network: Network, fit: tuple[torch.Tensor, torch.Tensor], readings: tuple[np.ndarray, np.ndarray], y_val: torch.Tensor,
              chosen_on: str, held_out: bool) -> DecisionRule:
    """On the network's ``readings`` (probabilities, features) of images labelled ``y_val`` (described by ``chosen_on``, none
    of them among the training images ``fit``: images and labels), fit the temperature when they are ``held_out`` from
    training and pick the confidence and margin thresholds on the calibrated probabilities; take the typicality check's
    references from the first training images those answer right (``answered_references``), centre it or not
    (``choose_typicality``, on scribbles and two kinds of noise), and set its distance threshold on the held-out features.
    A model that answers none of its training images right gets no typicality check."""
    engine = TorchEngine(network.cpu())
    probs, features = readings
    labels = y_val.cpu().numpy()
    temperature = fit_temperature(probs, labels) if held_out else 1.0
    thresholds = choose_thresholds(with_temperature(probs, temperature), labels, chosen_on, temperature)
    references = answered_references(engine, fit, thresholds, reference_count(network.feature_widths))
    if len(references) == 0:  # a model too unsure to answer any of its training images answers next to nothing: no check to add
        return DecisionRule(thresholds, None)
    outliers = [engine.features(x) for x in outliers_for(network)]
    typicality = choose_typicality(references, features, outliers, network.feature_widths)
    return DecisionRule(with_distance(thresholds, typicality.distances(features)), typicality)


def calibrate_run(
    network: Network, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor | None, y_val: torch.Tensor | None, seed: int,
    val_readings: tuple[np.ndarray, np.ndarray] | None = None,
) -> DecisionRule:
    """Thresholds from the validation split when there is one (``val_readings``: the network's probabilities and features of
    ``x_val``, when the caller has them already), else from a stratified sample of the training images."""
    engine = TorchEngine(network.cpu())
    if x_val is not None and y_val is not None:
        readings = val_readings if val_readings is not None else engine.run(x_val.cpu().numpy())
        return calibrate(network, (x_train, y_train), readings, y_val, f"validation split ({len(y_val)} images held out from training)",
                         True)
    labels = y_train.cpu().numpy()
    rest, sample = stratified_holdout(labels, min(0.5, CALIBRATION_IMAGES / len(labels)), seed)
    index, references = (torch.from_numpy(i).to(x_train.device) for i in (sample, rest))  # an image is its own nearest neighbour
    return calibrate(network, (x_train[references], y_train[references]), engine.run(x_train[index].cpu().numpy()), y_train[index],
                     f"training images ({len(sample)}, seen in training: the run has no validation split)", False)


def calibrate_saved_run(run: Run, dataset: Dataset) -> DecisionRule:
    """``calibrate_run`` for a saved run, with the same training images and validation split it was trained with."""
    config = run.config
    data = to_tensors(dataset.first(config.limit), run.network.flat_input, config.validation, config.holdout_seed)
    split = isinstance(config.validation, float)  # validation "test" is the test set: never chosen on
    return calibrate_run(run.network, data.x_train, data.y_train, data.x_val if split else None, data.y_val if split else None, config.seed)


def typicality_summary(rule: DecisionRule) -> str:
    """How the rule's typicality check reads the features, in a few words."""
    if rule.typicality is None:
        return "no typicality check (the model answers none of its training images at its confidence threshold)"
    how = "centred on the training mean" if rule.centred else "as they are"
    return f"typicality against {len(rule.typicality.references)} training images, features {how} (fewer scribbles and noise answered)"


def ensure_rule(run: Run, dataset: Dataset, mend: bool = False) -> None:
    """Choose and save the run's decision rule if it has none (a run saved by ``runs.train.train`` alone) or, with ``mend``
    (``mnistlab thresholds``), if its files are damaged; saying so."""
    saved = (run.path / RULE_FILE).is_file()
    damaged = saved and mend and rule_damaged(run.path)
    if saved and not damaged:
        return
    rule = calibrate_saved_run(run, dataset)
    save_rule(run.path, rule)
    print(f"{'The saved decision rule was damaged. ' if damaged else ''}Decision thresholds chosen on {rule.thresholds.chosen_on}, "
          f"{typicality_summary(rule)}, saved to {run.path / RULE_FILE}")
