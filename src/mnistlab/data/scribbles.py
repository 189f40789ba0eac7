"""Scribbles: synthetic non-digits for outlier exposure (training/outliers.py).

Each is two to four pen strokes (straight polylines, arcs of ellipses, smooth curves) drawn
at random with a pen of a digit's width, then laid out as MNIST lays out a digit. Strokes make
shapes no digit has (crossings, stars, hooks, loops side by side) as well as a few that look
like one; a network taught to be unsure of them learns that shapes unlike the ten digits get
no confident answer. No letter, font, photograph or dataset goes into them, so letters, clothes
and noise measured afterwards (``mnistlab abstention``) are things the network never saw.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from mnistlab.data.mnist_style import MNIST_SIDE, mnist_style

CANVAS = 112  # drawn at 4x MNIST's side, then scaled down with anti-aliasing


def _points(rng: np.random.Generator, count: int) -> list[tuple[float, float]]:
    return [tuple(p) for p in rng.uniform(0.1 * CANVAS, 0.9 * CANVAS, (count, 2))]


def _curve(rng: np.random.Generator) -> list[tuple[float, float]]:
    """A quadratic Bézier curve through three random points, as a polyline."""
    a, b, c = (np.array(p) for p in _points(rng, 3))
    t = np.linspace(0, 1, 24)[:, None]
    return [tuple(p) for p in (1 - t) ** 2 * a + 2 * (1 - t) * t * b + t**2 * c]


def _stroke(draw: ImageDraw.ImageDraw, rng: np.random.Generator, width: int) -> None:
    kind = rng.integers(3)
    if kind == 0:
        draw.line(_points(rng, int(rng.integers(2, 5))), fill=255, width=width, joint="curve")
    elif kind == 1:
        x0, y0 = rng.uniform(0.05 * CANVAS, 0.5 * CANVAS, 2)
        x1, y1 = x0 + rng.uniform(0.2 * CANVAS, 0.5 * CANVAS), y0 + rng.uniform(0.2 * CANVAS, 0.5 * CANVAS)
        start = float(rng.uniform(0, 360))
        draw.arc((x0, y0, x1, y1), start, start + float(rng.uniform(90, 330)), fill=255, width=width)
    else:
        draw.line(_curve(rng), fill=255, width=width, joint="curve")


def scribble(rng: np.random.Generator, side: int = MNIST_SIDE) -> np.ndarray:
    """One scribble, ``side`` x ``side`` uint8, white ink on black."""
    ink = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(ink)
    width = int(rng.integers(7, 13))
    for _ in range(int(rng.integers(2, 5))):
        _stroke(draw, rng, width)
    pixels = np.asarray(ink.filter(ImageFilter.GaussianBlur(1.5)), dtype=np.float32)
    return mnist_style(pixels, side)


def scribbles(count: int, seed: int, side: int = MNIST_SIDE) -> np.ndarray:
    """``count`` scribbles (count, side, side), the same for the same seed."""
    rng = np.random.default_rng(seed)
    return np.stack([scribble(rng, side) for _ in range(count)]) if count else np.zeros((0, side, side), np.uint8)
