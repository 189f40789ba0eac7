"""Seeded, stratified splits of a labelled set."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from mnistlab.errors import MnistlabError


def stratified_holdout(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, holdout) keeping each class's share, reproducible for a seed."""
    if not 0 < test_fraction < 1:
        raise MnistlabError(f"a holdout fraction must lie strictly between 0 and 1, got {test_fraction}")
    indices = np.arange(len(labels))
    try:
        train, test = train_test_split(indices, test_size=test_fraction, stratify=labels, random_state=seed)
    except ValueError as exc:
        raise MnistlabError(f"cannot hold out {test_fraction:.0%} per class: {exc}") from None
    return np.sort(train), np.sort(test)
