"""How accuracy grows as a model answers fewer images: the risk-coverage curve of its confidence."""

from __future__ import annotations

import numpy as np

TARGET_ACCURACIES = (0.99, 0.995, 0.999)


def top_two(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(top probability, top minus runner-up) per row."""
    ordered = np.sort(probabilities, axis=1)
    second = ordered[:, -2] if probabilities.shape[1] > 1 else np.zeros(len(probabilities))
    return ordered[:, -1], ordered[:, -1] - second


def answered_curve(scores: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds on ``scores``, highest first, with the share answered (score >= t) and their accuracy."""
    order = np.argsort(-scores)
    answered = np.arange(1, len(order) + 1)
    return scores[order], answered / len(order), np.cumsum(correct[order]) / answered


def risk_coverage(probabilities: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For thresholds on the top probability, highest first: (threshold, coverage, accuracy of the answered)."""
    confidence, _ = top_two(probabilities)
    return answered_curve(confidence, probabilities.argmax(axis=1) == labels)


def threshold_table(
    thresholds: np.ndarray, coverage: np.ndarray, accuracy: np.ndarray, targets: tuple[float, ...] = TARGET_ACCURACIES
) -> list[dict]:
    """From a ``risk_coverage`` curve, for each target accuracy: the lowest confidence threshold reaching it, and the share answered."""
    rows = []
    for target in targets:
        ok = np.flatnonzero(accuracy >= target)
        if len(ok) == 0:
            rows.append({"target_accuracy": target, "threshold": None, "coverage": 0.0, "accuracy": None})
            continue
        last = ok[-1]
        rows.append({"target_accuracy": target, "threshold": float(thresholds[last]), "coverage": float(coverage[last]), "accuracy": float(accuracy[last])})
    return rows
