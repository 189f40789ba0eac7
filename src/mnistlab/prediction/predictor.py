"""``Predictor``: a saved run that reads people's images and says when it is unsure; ``predict``, its Python face."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mnistlab.data.loaders import load_dataset
from mnistlab.data.registry import HANDWRITTEN, PICTURES
from mnistlab.prediction.calibrate import ensure_rule
from mnistlab.prediction.decision import RULE_FILE, Decision, DecisionRule, load_rule
from mnistlab.prediction.engines import make_engine
from mnistlab.prediction.ensemble import tta_run
from mnistlab.prediction.inputs import named_images
from mnistlab.prediction.prepare import Prepared, prepare_image, prepare_picture, resize_only
from mnistlab.models.zoo import image_shape_for
from mnistlab.runs.store import Run, load_run


@dataclass(frozen=True)
class Prediction:
    """What the model says about one image."""

    name: str
    probabilities: np.ndarray
    decision: Decision
    prepared: Prepared
    class_names: tuple[str, ...]

    @property
    def label(self) -> int:
        return int(self.probabilities.argmax())

    @property
    def confidence(self) -> float:
        return float(self.probabilities.max())

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        order = np.argsort(-self.probabilities)[:k]
        return [(self.class_names[i], float(self.probabilities[i])) for i in order]

    def to_dict(self) -> dict:
        return {
            "input": self.name,
            "class": self.label,
            "name": self.class_names[self.label],
            "confidence": self.confidence,
            "decision": "unsure" if self.decision.unsure else self.class_names[self.decision.label],
            "unsure": self.decision.unsure,
            "reason": self.decision.reason,
            "top3": [{"name": n, "probability": p} for n, p in self.top(3)],
            "probabilities": {n: float(p) for n, p in zip(self.class_names, self.probabilities)},
        }


@dataclass(frozen=True)
class Predictions:
    """Predictions for many images: indexable like a list, with their numbers as arrays."""

    items: list[Prediction]
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int | slice | np.ndarray | list) -> "Prediction | Predictions":
        """One prediction for an int; for a slice, a boolean mask or indices, those predictions."""
        if isinstance(index, (int, np.integer)):
            return self.items[index]
        if isinstance(index, slice):
            return Predictions(self.items[index], self.class_names)
        return Predictions([self.items[i] for i in np.arange(len(self.items))[np.asarray(index)]], self.class_names)

    def __iter__(self) -> Iterator[Prediction]:
        return iter(self.items)

    @property
    def classes(self) -> np.ndarray:
        """The most probable class of each image, answered or not."""
        return np.array([p.label for p in self.items], dtype=np.int64)

    @property
    def probabilities(self) -> np.ndarray:
        return np.stack([p.probabilities for p in self.items])

    @property
    def answered(self) -> np.ndarray:
        """True where the decision rule answers, False where it says unsure."""
        return np.array([not p.decision.unsure for p in self.items])

    @property
    def decisions(self) -> list[str]:
        """The class name answered, or "unsure"."""
        return ["unsure" if p.decision.unsure else p.class_names[p.decision.label] for p in self.items]

    @property
    def reasons(self) -> list[str]:
        return [p.decision.reason for p in self.items]

    def to_dicts(self) -> list[dict]:
        """What ``mnistlab predict --format json`` prints."""
        return [p.to_dict() for p in self.items]


class Predictor:
    """Loads a run once; ``predict`` prepares images as its dataset was prepared (unless ``prepare=False``) and decides;
    ``tta`` answers with test-time augmentation (prediction/ensemble.py)."""

    def __init__(self, run_path: str | Path | Run, engine: str = "torch", prepare: bool = True,
                 confidence: float | None = None, margin: float | None = None, tta: bool = False,
                 data_dir: str | Path | None = None) -> None:
        run = run_path if isinstance(run_path, Run) else load_run(run_path)
        if tta:  # RUN/tta, with thresholds of its own (made on first use from the run's dataset)
            run = tta_run(run, data_dir)
        self.run = run
        self.network = run.network
        self.class_names = run.class_names
        self.size = image_shape_for(run.network.input_shape)
        self.prepare = prepare
        self.strokes = run.config.dataset in HANDWRITTEN
        self.pictures = run.config.dataset in PICTURES
        self.engine = make_engine(engine, run.network, run.path)
        self.rule: DecisionRule = load_rule(run.path).with_overrides(confidence, margin)

    def prepare_one(self, image: Image.Image) -> Prepared:
        if not self.prepare:
            return resize_only(image, self.size)
        return prepare_picture(image, self.size) if self.pictures else prepare_image(image, self.size, self.strokes)

    def decide_prepared(self, prepared: list[Prepared]) -> tuple[np.ndarray, np.ndarray, list[Decision]]:
        """Calibrated probabilities, features and decisions for prepared images: everything ``predict`` computes."""
        pixels = np.stack([p.pixels for p in prepared]).astype(np.float32) / 255.0
        x = pixels.reshape(len(pixels), -1) if self.network.flat_input else pixels[:, None]
        raw, features = self.engine.run(x)
        probabilities = self.rule.calibrated(raw)
        return probabilities, features, self.rule.decide(probabilities, features, blank=np.array([p.blank for p in prepared]))

    def predict_prepared(self, names: list[str], prepared: list[Prepared]) -> list[Prediction]:
        if not prepared:
            return []
        probabilities, _, decisions = self.decide_prepared(prepared)
        return [Prediction(n, pr, d, p, self.class_names) for n, pr, d, p in zip(names, probabilities, decisions, prepared)]

    def predict(self, named_images: list[tuple[str, Image.Image]]) -> list[Prediction]:
        names = [name for name, _ in named_images]
        return self.predict_prepared(names, [self.prepare_one(image) for _, image in named_images])

    def predict_any(self, x: object) -> Predictions:
        """Predictions for arrays, tensors, PIL images, paths or a list of them (``inputs.named_images``)."""
        return Predictions(self.predict(named_images(x, self.size)), self.class_names)


def predict(run: Run | str | Path, x: object, prepare: bool = True, engine: str = "torch",
            confidence: float | None = None, margin: float | None = None, data_dir: str | Path | None = None,
            tta: bool = False) -> Predictions:
    """Classes, probabilities and decisions for ``x``, prepared and decided as ``mnistlab predict`` does.

    A run saved without decision thresholds (``runs.train.train`` alone) gets them first, chosen
    and saved as ``mnistlab thresholds RUN`` would.
    """
    run = run if isinstance(run, Run) else load_run(run)
    if not (run.path / RULE_FILE).is_file():  # loading the dataset only when the rule is missing
        ensure_rule(run, load_dataset(run.config.dataset, data_dir))
    return Predictor(run, engine, prepare, confidence, margin, tta, data_dir).predict_any(x)
