"""Does "confidence 0.95" mean right 95% of the time? Reliability, expected calibration error, temperature scaling.

Temperature scaling (Guo et al. 2017) divides the logits by one number T fitted to minimise the
negative log-likelihood of held-out labels: it never changes which class wins, only how sure the
model says it is. Probabilities carry their logits up to a per-row constant (log p = z - logsumexp z),
so T is fitted and applied on log-probabilities, and works the same for the torch and ONNX engines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

ECE_BINS = 15
LOG_T_BOUNDS = (-3.0, 3.0)  # T between 0.05 and 20
FLOOR = 1e-12  # probabilities below this are taken as this before the log


def with_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(logits / T)`` from the probabilities ``softmax(logits)``."""
    if temperature == 1.0:
        return probabilities
    scaled = np.log(np.maximum(probabilities.astype(np.float64), FLOOR)) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(probabilities.dtype)


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(np.maximum(probabilities[np.arange(len(labels)), labels].astype(np.float64), FLOOR)).mean())


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The T minimising the held-out negative log-likelihood (a bounded 1-D search on log T)."""
    result = minimize_scalar(lambda log_t: negative_log_likelihood(with_temperature(probabilities, float(np.exp(log_t))), labels),
                             bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))


@dataclass(frozen=True)
class Reliability:
    """Per confidence bin: how many images, their mean confidence and their accuracy."""

    edges: np.ndarray  # (bins + 1,)
    counts: np.ndarray
    confidence: np.ndarray  # NaN for an empty bin
    accuracy: np.ndarray

    @property
    def ece(self) -> float:
        """Expected calibration error: the count-weighted mean gap between confidence and accuracy."""
        used = self.counts > 0
        return float((self.counts[used] * np.abs(self.accuracy[used] - self.confidence[used])).sum() / self.counts.sum())


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> Reliability:
    """Top-class confidence in ``bins`` equal-width bins over (0, 1], as in Guo et al.'s ECE."""
    confidence = probabilities.max(axis=1).astype(np.float64)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / counts
        accuracy = np.bincount(which, weights=correct.astype(np.float64), minlength=bins) / counts
    return Reliability(edges, counts, mean_confidence, accuracy)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    return reliability(probabilities, labels, bins).ece


def reliability_before_after(probabilities: np.ndarray, labels: np.ndarray, temperature: float) -> tuple[Reliability, Reliability]:
    """The reliability of ``probabilities`` as the model gives them and calibrated with ``temperature``: what the run's report
    draws, and the calibration error before and after that the reports give."""
    return reliability(probabilities, labels), reliability(with_temperature(probabilities, temperature), labels)
