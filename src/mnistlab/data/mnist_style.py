"""How the 28x28 datasets lay out one image, bright on black.

MNIST, a glyph: its longer side scaled to a 20-pixel box (anti-aliased), placed in 28x28 with its
centre of mass at the centre (LeCun et al.'s preparation). Fashion-MNIST, a picture of a thing:
trimmed to the thing, its longer side scaled to the whole 28 pixels, centred (Xiao et al.'s)."""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

MNIST_SIDE, MNIST_BOX = 28, 20


def ink_bounds(ink: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns of the ink's bounding box (``ink`` has some ink somewhere)."""
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def fit_in_box(ink: np.ndarray, box: int) -> np.ndarray:
    """Crop to the ink's bounding box and scale its longer side to ``box`` pixels (anti-aliased)."""
    crop = ink[ink_bounds(ink)]
    h, w = crop.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resized = Image.fromarray(crop.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized), 0, 255)


def centred(glyph: np.ndarray, side: int) -> np.ndarray:
    """``glyph`` (at most ``side`` x ``side``) in the middle of a black ``side`` x ``side`` canvas."""
    canvas = np.zeros((side, side), dtype=np.float32)
    h, w = glyph.shape
    top, left = (side - h) // 2, (side - w) // 2
    canvas[top : top + h, left : left + w] = glyph
    return canvas


def center_by_mass(glyph: np.ndarray, side: int) -> np.ndarray:
    """Paste ``glyph`` into a ``side`` x ``side`` canvas with its centre of mass at the centre."""
    canvas = centred(glyph, side)
    cy, cx = ndimage.center_of_mass(canvas)
    shift = (round((side - 1) / 2 - cy), round((side - 1) / 2 - cx))
    return ndimage.shift(canvas, shift, order=0, mode="constant", cval=0.0)


def mnist_style(ink: np.ndarray, side: int = MNIST_SIDE) -> np.ndarray:
    """``ink`` (float, bright on black, some ink somewhere) laid out as MNIST lays out a digit, as uint8."""
    glyph = fit_in_box(ink, max(1, round(side * MNIST_BOX / MNIST_SIDE)))
    return np.clip(center_by_mass(glyph, side), 0, 255).round().astype(np.uint8)


def fashion_style(picture: np.ndarray, side: int = MNIST_SIDE) -> np.ndarray:
    """``picture`` (float, bright on black, something somewhere) laid out as Fashion-MNIST lays out a product, as uint8."""
    return np.clip(centred(fit_in_box(picture, side), side), 0, 255).round().astype(np.uint8)
