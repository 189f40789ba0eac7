"""What a run gets right and wrong: predictions, confusion matrix, per-class scores, confused pairs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from mnistlab.data.dataset import Dataset
from mnistlab.data.preprocess import prepare_images
from mnistlab.models.network import Network

EPSILON = 1e-7  # Keras's clip for log(p)


@dataclass(frozen=True)
class Analysis:
    """A network's predictions on a labelled set and the figures derived from them."""

    images: np.ndarray  # (N, H, W) uint8, as stored
    labels: np.ndarray  # (N,)
    probabilities: np.ndarray  # (N, C)
    class_names: tuple[str, ...]

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        return self.probabilities.max(axis=1)

    @property
    def correct(self) -> np.ndarray:
        return self.predictions == self.labels

    @property
    def losses(self) -> np.ndarray:
        """Per-image cross-entropy: -log p(true class)."""
        true_p = self.probabilities[np.arange(len(self.labels)), self.labels]
        return -np.log(np.clip(true_p, EPSILON, 1.0))

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if len(self.labels) else 0.0

    def confusion(self, normalize: bool = False) -> np.ndarray:
        """Rows: true class; columns: predicted class. ``normalize`` divides each row by its total."""
        counts = confusion_matrix(self.labels, self.predictions, labels=np.arange(len(self.class_names)))
        if not normalize:
            return counts
        totals = counts.sum(axis=1, keepdims=True)
        return np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)

    def per_class(self) -> list[dict]:
        """Precision, recall, F1 and support of each class."""
        precision, recall, f1, support = precision_recall_fscore_support(
            self.labels, self.predictions, labels=np.arange(len(self.class_names)), zero_division=0
        )
        return [
            {"class": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(self.class_names, precision, recall, f1, support)
        ]

    def most_confused(self, top: int = 10) -> list[dict]:
        """The (true, predicted) pairs with the most mistakes, most first."""
        counts = self.confusion()
        np.fill_diagonal(counts, 0)
        order = np.argsort(counts, axis=None)[::-1][:top]
        pairs = []
        for flat in order:
            true, predicted = np.unravel_index(flat, counts.shape)
            if counts[true, predicted] == 0:
                break
            pairs.append({"true": self.class_names[true], "predicted": self.class_names[predicted], "count": int(counts[true, predicted])})
        return pairs

    def worst_mistakes(self, count: int) -> np.ndarray:
        """Indices of wrong predictions, highest loss first."""
        wrong = np.flatnonzero(~self.correct)
        return wrong[np.argsort(self.losses[wrong])[::-1]][:count]

    def confident_correct(self, count: int, seed: int = 0) -> np.ndarray:
        """A seeded random sample of correct predictions."""
        right = np.flatnonzero(self.correct)
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(right, size=min(count, len(right)), replace=False))


def analyze(network: Network, dataset: Dataset, device: torch.device | str = "cpu") -> Analysis:
    """Predict the test set of ``dataset`` with ``network`` (eval mode, large batches)."""
    x = prepare_images(dataset.x_test, dataset.max_value, network.flat_input, device)
    probabilities = network.to(device).predict_proba(x).cpu().numpy()
    return Analysis(dataset.x_test, dataset.y_test, probabilities, dataset.class_names)
