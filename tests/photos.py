"""Photos of handwritten digits as a person makes them: dark ink on light paper, off-centre, larger, noisy.

The handwriting is real (MNIST test digits); the photo around it is simulated: inverted to dark
ink, scaled up 4-7x with smoothing, placed off-centre on paper of uneven brightness, with noise.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter


def photo_of(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    scale = rng.uniform(4, 7)
    side = int(28 * scale)
    ink = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(1.2))
    width, height = int(side * rng.uniform(1.4, 2.0)), int(side * rng.uniform(1.2, 1.6))
    paper_level = rng.uniform(190, 240)
    gradient = np.linspace(-15, 15, width)[None, :] * rng.choice([-1, 1])
    paper = np.full((height, width), paper_level) + gradient
    left, top = rng.integers(0, width - side), rng.integers(0, height - side)
    darkness = np.asarray(ink, dtype=np.float64) / 255.0 * rng.uniform(0.7, 0.9) * paper_level
    paper[top : top + side, left : left + side] -= darkness
    paper += rng.normal(0, 6, paper.shape)
    return Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8))
