"""Scribbles: synthetic non-digits for outlier exposure (training/outliers.py).

Each is two to four pen strokes (straight polylines, arcs of ellipses, smooth curves) drawn
at random with a pen of a digit's width, then laid out as MNIST lays out a digit. Strokes make
shapes no digit has (crossings, stars, hooks, loops side by side) as well as a few that look
like one; a network taught to be unsure of them learns that shapes unlike the ten digits get
no confident answer. Glyphs, a share of them when asked, are built as printed characters are: two
to four strokes of one pen between the points of a 3x3 grid on an upright box, and bowls (half
ellipses) between two of them, slanted a little. No letter, font, photograph or dataset goes into
either, so letters, clothes and noise measured afterwards (``mnistlab abstention``) are things the
network never saw.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from mnistlab.data.mnist_style import MNIST_SIDE, mnist_style

CANVAS = 112  # drawn at 4x MNIST's side, then scaled down with anti-aliasing
GRID = (0.0, 0.5, 1.0)  # where a glyph's strokes start and end, as fractions of its box


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


def _glyph_stroke(draw: ImageDraw.ImageDraw, rng: np.random.Generator, box: tuple[float, float, float, float], width: int,
                  touched: set[tuple[int, int]]) -> None:
    """A straight stroke between two of the box's grid points, or a bowl between two points of one column or row;
    it starts at a point an earlier stroke ``touched`` (so a glyph holds together, as a character does) and adds its own."""
    left, top, w, h = box
    start = list(touched)[int(rng.integers(len(touched)))] if touched else (int(rng.integers(3)), int(rng.integers(3)))
    if rng.random() < 0.7:
        end = start
        while end == start:
            end = (int(rng.integers(3)), int(rng.integers(3)))
        draw.line([(left + GRID[i] * w, top + GRID[j] * h) for i, j in (start, end)], fill=255, width=width)
        middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        touched.update({start, end} | ({(int(middle[0]), int(middle[1]))} if middle[0] % 1 == middle[1] % 1 == 0 else set()))
        return
    reach = float(rng.uniform(0.25, 0.6))
    if rng.random() < 0.5:  # bowl down its column, bulging right (P, D) or left
        column, rows = start[0], sorted((start[1], int(rng.choice([r for r in range(3) if r != start[1]]))))
        x, y0, y1 = left + GRID[column] * w, top + GRID[rows[0]] * h, top + GRID[rows[1]] * h
        bounds, angle = (x - reach * w, y0, x + reach * w, y1), -90 if rng.random() < 0.5 else 90
        touched.update((column, r) for r in rows)
    else:  # bowl along its row, opening up (U) or down (n)
        row, columns = start[1], sorted((start[0], int(rng.choice([c for c in range(3) if c != start[0]]))))
        y, x0, x1 = top + GRID[row] * h, left + GRID[columns[0]] * w, left + GRID[columns[1]] * w
        bounds, angle = (x0, y - reach * h, x1, y + reach * h), 0 if rng.random() < 0.5 else 180
        touched.update((c, row) for c in columns)
    draw.arc(bounds, angle, angle + 180, fill=255, width=width)


def _finished(ink: Image.Image, side: int) -> np.ndarray:
    """Pen strokes blurred as ink is, laid out as MNIST lays out a digit."""
    return mnist_style(np.asarray(ink.filter(ImageFilter.GaussianBlur(1.5)), dtype=np.float32), side)


def scribble(rng: np.random.Generator, side: int = MNIST_SIDE) -> np.ndarray:
    """One scribble, ``side`` x ``side`` uint8, white ink on black."""
    ink = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(ink)
    width = int(rng.integers(7, 13))
    for _ in range(int(rng.integers(2, 5))):
        _stroke(draw, rng, width)
    return _finished(ink, side)


def glyph(rng: np.random.Generator, side: int = MNIST_SIDE) -> np.ndarray:
    """One glyph, built as a printed character is, ``side`` x ``side`` uint8, white ink on black."""
    ink = Image.new("L", (CANVAS, CANVAS), 0)
    h = 0.7 * CANVAS
    w = h * float(rng.uniform(0.45, 1.0))
    box = ((CANVAS - w) / 2, (CANVAS - h) / 2, w, h)
    draw = ImageDraw.Draw(ink)
    width, touched = int(rng.integers(7, 13)), set()
    for _ in range(int(rng.integers(2, 5))):
        _glyph_stroke(draw, rng, box, width, touched)
    slant = float(rng.uniform(-0.25, 0.25))  # x moves by slant * (y - middle): an italic's lean
    ink = ink.transform(ink.size, Image.Transform.AFFINE, (1, slant, -slant * CANVAS / 2, 0, 1, 0), Image.Resampling.BILINEAR)
    return _finished(ink, side)


def scribbles(count: int, seed: int, side: int = MNIST_SIDE, glyphs: float = 0.0) -> np.ndarray:
    """``count`` scribbles (count, side, side), a ``glyphs`` share of them glyphs, the same for the same seed."""
    rng = np.random.default_rng(seed)
    printed = round(count * glyphs)
    pictures = [scribble(rng, side) for _ in range(count - printed)] + [glyph(rng, side) for _ in range(printed)]
    return np.stack(pictures) if count else np.zeros((0, side, side), np.uint8)
