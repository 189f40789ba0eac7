"""Noise pictures: what a camera sees with nothing written, for measuring (``mnistlab abstention``) and choosing
(prediction/calibrate.py) how a model treats what is not its classes."""

from __future__ import annotations

import numpy as np
from PIL import Image

from mnistlab.data.mnist_style import MNIST_SIDE


def noise(count: int, seed: int, side: int = MNIST_SIDE) -> np.ndarray:
    """``count`` pictures (count, side, side) uint8: half uniform pixel noise, half smooth blotches (noise at 12/28 of the
    side, scaled up), the same for the same seed."""
    rng = np.random.default_rng(seed)
    small = max(2, round(side * 12 / MNIST_SIDE))
    pictures = np.zeros((count, side, side), np.uint8)
    for i in range(count):
        if i % 2 == 0:
            pictures[i] = rng.uniform(0, 255, (side, side)).astype(np.uint8)
        else:
            coarse = Image.fromarray(rng.uniform(0, 255, (small, small)).astype(np.uint8))
            pictures[i] = np.asarray(coarse.resize((side, side), Image.Resampling.BICUBIC))
    return pictures


def noise_by_kind(count: int, seed: int, side: int = MNIST_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """``noise(2 * count, seed, side)`` split by kind: (uniform pixel noise, smooth blotches), ``count`` of each."""
    pictures = noise(2 * count, seed, side)
    return pictures[0::2], pictures[1::2]
