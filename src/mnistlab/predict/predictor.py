"""``Predictor``: a saved run that reads people's images and says when it is unsure."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mnistlab.predict.decision import Decision, DecisionRule, load_rule
from mnistlab.predict.engines import make_engine
from mnistlab.predict.prepare import Prepared, prepare_image, resize_only
from mnistlab.runs.store import load_run


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


class Predictor:
    """Loads a run once; ``predict`` prepares images MNIST-style (unless ``prepare=False``) and decides."""

    def __init__(self, run_path: str | Path, engine: str = "torch", prepare: bool = True,
                 confidence: float | None = None, margin: float | None = None) -> None:
        run = load_run(run_path)
        self.run = run
        self.network = run.network
        self.class_names = run.class_names
        self.size = run.network.input_shape[-2:] if not run.network.flat_input else _square(run.network.input_shape[0])
        self.prepare = prepare
        self.engine = make_engine(engine, run.network, run.path)
        self.rule: DecisionRule = load_rule(run.path).with_overrides(confidence, margin)

    def prepare_one(self, image: Image.Image) -> Prepared:
        return prepare_image(image, self.size) if self.prepare else resize_only(image, self.size)

    def predict_prepared(self, names: list[str], prepared: list[Prepared]) -> list[Prediction]:
        if not prepared:
            return []
        pixels = np.stack([p.pixels for p in prepared]).astype(np.float32) / 255.0
        x = pixels.reshape(len(pixels), -1) if self.network.flat_input else pixels[:, None]
        probabilities, features = self.engine.run(x)
        decisions = self.rule.decide(probabilities, features, blank=np.array([p.blank for p in prepared]))
        return [Prediction(n, pr, d, p, self.class_names) for n, pr, d, p in zip(names, probabilities, decisions, prepared)]

    def predict(self, named_images: list[tuple[str, Image.Image]]) -> list[Prediction]:
        names = [name for name, _ in named_images]
        return self.predict_prepared(names, [self.prepare_one(image) for _, image in named_images])


def _square(n: int) -> tuple[int, int]:
    side = int(round(n**0.5))
    return side, side
