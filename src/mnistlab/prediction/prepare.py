"""Preparing a person's image the way its dataset was prepared, so the model sees what it was trained on.

MNIST digits are white ink on black, scaled to fit a 20x20 box keeping their aspect ratio
(anti-aliased), then placed in 28x28 so their centre of mass sits at the centre. A phone
photo or a scan is dark ink on light paper, off-centre, larger, and noisy, its strokes soft and
dim: ``prepare_image`` undoes each of those differences in turn.

Fashion-MNIST's things are product photos on white, inverted, trimmed to the thing and scaled to
fill the 28x28 frame (centred, not by mass): ``prepare_picture`` does the same to a photo of one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from mnistlab.data.mnist_style import MNIST_BOX, MNIST_SIDE, fashion_style, ink_bounds, mnist_style
from mnistlab.errors import MnistlabError

INK_FLOOR = 40.0  # Otsu's split of ink from paper never goes below this grey level (of 255)
BILEVEL_FROM = 3  # ink this many times MNIST's 20-pixel box (or more) is made bilevel before it is scaled down


@dataclass(frozen=True)
class Prepared:
    """The image the model sees (uint8, white ink on black) and what preparation found."""

    pixels: np.ndarray
    inverted: bool
    ink_fraction: float  # share of the original image's area covered by ink
    components: int  # separate blobs of ink left after noise suppression

    @property
    def blank(self) -> bool:
        return not self.pixels.any()


def to_grayscale(image: Image.Image) -> np.ndarray:
    """Float grayscale in [0, 255]; transparency is flattened onto white paper."""
    if image.mode in ("RGBA", "LA", "P", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return np.asarray(image.convert("L"), dtype=np.float32)


def border_level(gray: np.ndarray) -> float:
    """The typical value of the image's outermost pixels: its background."""
    return float(np.median(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])))


def ink_on_black(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """Make ink bright on a dark background; True when the image had to be inverted.

    The background is the border's typical value: a light border means dark ink on paper.
    """
    inverted = border_level(gray) > 127
    return (255.0 - gray if inverted else gray), inverted


def otsu_threshold(values: np.ndarray) -> float:
    """The grey level that best separates two classes of pixels (Otsu's method)."""
    hist, edges = np.histogram(values, bins=256, range=(0, 256))
    weight = hist.cumsum()
    mean = (hist * edges[:-1]).cumsum()
    total_weight, total_mean = weight[-1], mean[-1]
    between = (total_mean * weight - mean * total_weight) ** 2 / np.maximum(weight * (total_weight - weight), 1)
    return float(edges[np.argmax(between)])


def suppress_noise(ink: np.ndarray) -> tuple[np.ndarray, int]:
    """Zero the background and drop specks: returns the cleaned image and the number of ink blobs left.

    The background level is removed (values at or below it become 0), the ink mask is
    Otsu's split of what remains, and blobs smaller than 1% of the largest are erased.
    """
    background = float(np.median(ink))
    lifted = stretched_above(ink, background)
    return main_blobs(lifted, lifted > max(otsu_threshold(lifted), INK_FLOOR))


def stretched_above(image: np.ndarray, background: float) -> np.ndarray:
    """``image`` less ``background`` (at least 0), stretched so its brightest pixel is 255; all 0 when
    nothing stands out from the background."""
    lifted = np.clip(image - background, 0, None)
    if lifted.max() < 32:
        return np.zeros_like(image)
    return lifted * (255.0 / lifted.max())


def main_blobs(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, int]:
    """``image`` where the blobs of ``mask`` are, with a 2-pixel rim (their anti-aliased edges), and 0
    elsewhere; specks (blobs under 1% of the largest) are left out. Also the number of blobs kept."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count == 0:
        return np.zeros_like(image), 0
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
    keep = np.flatnonzero(sizes >= max(0.01 * sizes.max(), 2)) + 1
    return np.where(ndimage.binary_dilation(np.isin(labels, keep), iterations=2), image, 0.0), len(keep)


def bilevel(ink: np.ndarray, side: int) -> np.ndarray:
    """Pen strokes as NIST scanned them before MNIST scaled them down: ink or paper, nothing between.

    A photo's strokes are soft and seldom as bright as MNIST's, whose cores are full white: the camera
    blurs them, the pen, the light and the paper dim them. Split from the paper at Otsu's level (over the
    whole image, so that a faint stretch of a thin stroke stays ink), then scaled with
    anti-aliasing by ``mnist_style``, they get MNIST's grey edges back. Only when the ink spans at
    least ``BILEVEL_FROM`` boxes (for 28x28, 60 pixels): a smaller image's greys are its anti-aliasing.
    """
    rows, cols = ink_bounds(ink)
    if max(rows.stop - rows.start, cols.stop - cols.start) < BILEVEL_FROM * side * MNIST_BOX / MNIST_SIDE:
        return ink
    return np.where(ink > max(otsu_threshold(ink.ravel()), INK_FLOOR), 255.0, 0.0)  # Otsu's split of ink from (zeroed) paper


def prepared(image: Image.Image, size: tuple[int, int], style: str, clean: Callable[[np.ndarray], tuple[np.ndarray, int]],
             lay_out: Callable[[np.ndarray, int], np.ndarray]) -> Prepared:
    """The steps every preparation shares: bright on black (a light background is inverted), ``clean`` (what is kept, and
    its blob count), then ``lay_out`` at the model's square side; a blank image when nothing is kept."""
    if size[0] != size[1]:
        raise MnistlabError(f"{style} preparation needs a square model input, got {size}; use --no-prepare")
    ink, inverted = ink_on_black(to_grayscale(image))
    kept, components = clean(ink)
    if not kept.any():
        return Prepared(np.zeros(size, dtype=np.uint8), inverted, 0.0, 0)
    return Prepared(lay_out(kept, size[0]), inverted, float((kept > 0).mean()), components)


def prepare_image(image: Image.Image, size: tuple[int, int] = (28, 28), strokes: bool = False) -> Prepared:
    """MNIST-style preparation for 28x28 models; other sizes get the same steps scaled to the size.
    ``strokes``: the model reads pen strokes (digits, not clothes), so a large image's ink is made ``bilevel``."""
    return prepared(image, size, "MNIST-style", suppress_noise,
                    lambda ink, side: mnist_style(bilevel(ink, side) if strokes else ink, side))


def thing_alone(picture: np.ndarray) -> tuple[np.ndarray, int]:
    """``picture`` less its border's level, stretched, with only its main blobs (specks left out)."""
    lifted = stretched_above(picture, border_level(picture))
    return main_blobs(lifted, lifted > INK_FLOOR)


def prepare_picture(image: Image.Image, size: tuple[int, int] = (28, 28)) -> Prepared:
    """Fashion-MNIST's preparation of a photo of one thing: bright on black (a light background is inverted), the
    background's level (its border's) removed, trimmed to the thing (specks left out), scaled to fill the frame."""
    return prepared(image, size, "Fashion-MNIST-style", thing_alone, fashion_style)


def resize_only(image: Image.Image, size: tuple[int, int]) -> Prepared:
    """``--no-prepare``: grayscale and resized, nothing else (what a naive pipeline feeds the model)."""
    gray = Image.fromarray(to_grayscale(image).astype(np.uint8)).resize((size[1], size[0]), Image.Resampling.LANCZOS)
    pixels = np.asarray(gray, dtype=np.uint8)
    return Prepared(pixels, False, float((pixels > 0).mean()), 0)
