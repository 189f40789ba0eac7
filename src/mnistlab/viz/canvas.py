"""Matplotlib figures made without pyplot (so a notebook's own plotting backend is left alone): atomic PNG saving, image tiles."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mnistlab.atomic import write_with

DPI = 100
GRAY = "gray_r"  # ink dark on light, as digits are drawn on paper


def figure(width: float, height: float) -> Figure:
    """A new figure (no pyplot global state), ``width`` x ``height`` inches."""
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG atomically."""
    path = Path(path)
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))
    return path


def png_data_uri(path: str | Path) -> str:
    """A PNG file as a ``data:`` URI, so an HTML page needs no other file."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def show_image(ax: Axes, image: np.ndarray, max_value: int, title: str = "", color: str = "black", fontsize: float = 8) -> None:
    """One grayscale tile without axes, optionally titled."""
    ax.imshow(image, cmap=GRAY, vmin=0, vmax=max_value, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=fontsize, color=color, pad=2)


def mosaic(images: np.ndarray, cols: int, gap: int = 1) -> np.ndarray:
    """Tile (N, H, W) images into one array, ``cols`` per row, with ``gap`` blank pixels between."""
    n, h, w = images.shape
    rows = (n + cols - 1) // cols
    out = np.zeros((rows * (h + gap) - gap, cols * (w + gap) - gap), dtype=images.dtype)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = image
    return out
