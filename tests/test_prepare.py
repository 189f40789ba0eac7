"""Preparing a person's image as its dataset was prepared, step by step: MNIST's digits, Fashion-MNIST's things."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

from mnistlab import MnistlabError
from mnistlab.prediction.abstention import photo_of
from mnistlab.prediction.prepare import ink_on_black, otsu_threshold, prepare_image, prepare_picture, resize_only, to_grayscale


def drawn_seven(width: int = 300, height: int = 200, offset: tuple[int, int] = (40, 20), ink: int = 30, paper: int = 225) -> Image.Image:
    image = Image.new("L", (width, height), paper)
    x, y = offset
    ImageDraw.Draw(image).line([(x, y), (x + 90, y), (x + 40, y + 150)], fill=ink, width=12)
    return image


def test_dark_on_light_is_inverted_and_centred() -> None:
    prepared = prepare_image(drawn_seven())
    pixels = prepared.pixels
    assert prepared.inverted and pixels.shape == (28, 28) and pixels.dtype == np.uint8
    rows, cols = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 24  # the 20x20 box plus anti-aliased rim
    cy, cx = ndimage.center_of_mass(pixels.astype(float))
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1
    assert pixels.max() == 255 and pixels[0].sum() == 0  # white ink, black background


def test_position_and_size_do_not_matter() -> None:
    a = prepare_image(drawn_seven(offset=(20, 10))).pixels.astype(int)
    b = prepare_image(drawn_seven(width=500, height=400, offset=(300, 200))).pixels.astype(int)
    assert np.abs(a - b).mean() < 8


def test_white_on_black_is_kept() -> None:
    inverted = Image.fromarray(255 - np.asarray(drawn_seven()))
    prepared = prepare_image(inverted)
    assert not prepared.inverted and prepared.pixels.max() == 255


def test_transparency_is_flattened_on_white() -> None:
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(50, 10), (50, 90)], fill=(0, 0, 0, 255), width=8)
    gray = to_grayscale(image)
    assert gray[0, 0] == 255 and gray[50, 50] == 0
    assert prepare_image(image).pixels.any()


def test_noise_specks_are_removed() -> None:
    rng = np.random.default_rng(0)
    base = np.asarray(drawn_seven(), dtype=float)
    specks = np.zeros_like(base)
    specks[rng.integers(0, 200, 30), rng.integers(0, 300, 30)] = 150
    noisy = Image.fromarray(np.clip(base - specks + rng.normal(0, 5, base.shape), 0, 255).astype(np.uint8))
    def extent(pixels: np.ndarray) -> list[int]:
        rows, cols = np.flatnonzero((pixels > 64).any(axis=1)), np.flatnonzero((pixels > 64).any(axis=0))
        return [rows[0], rows[-1], cols[0], cols[-1]]

    cleaned = prepare_image(noisy)
    assert cleaned.components == 1  # thirty specks gone, one stroke left
    assert np.abs(np.subtract(extent(cleaned.pixels), extent(prepare_image(drawn_seven()).pixels))).max() <= 1


def test_blank_paper_is_blank() -> None:
    rng = np.random.default_rng(1)
    paper = Image.fromarray(np.clip(rng.normal(220, 4, (120, 160)), 0, 255).astype(np.uint8))
    prepared = prepare_image(paper)
    assert prepared.blank and prepared.components == 0


def test_other_sizes_and_no_prepare() -> None:
    assert prepare_image(drawn_seven(), size=(8, 8)).pixels.shape == (8, 8)
    raw = resize_only(drawn_seven(), (28, 28))
    assert raw.pixels.shape == (28, 28) and raw.pixels.mean() > 150  # still light paper: what the model never saw
    with pytest.raises(MnistlabError, match="square"):
        prepare_image(drawn_seven(), size=(28, 20))


def test_a_photos_soft_dim_strokes_come_out_as_bright_as_mnists() -> None:
    """Blur and a dim pencil leave no stroke pixel at full white; made bilevel first, the seven is MNIST's bright self again."""
    def saturated(pixels: np.ndarray) -> float:
        return float((pixels[pixels > 12] >= 250).mean())

    sharp, soft = drawn_seven(), drawn_seven(ink=150).filter(ImageFilter.GaussianBlur(4))
    assert saturated(prepare_image(soft).pixels) == 0 < saturated(prepare_image(sharp).pixels)
    strokes = prepare_image(sharp, strokes=True).pixels.astype(int), prepare_image(soft, strokes=True).pixels.astype(int)
    assert abs(saturated(strokes[1]) - saturated(strokes[0])) < 0.05 and np.abs(strokes[0] - strokes[1]).mean() < 5
    digit = Image.fromarray(ndimage.zoom(np.asarray(sharp, dtype=float), 0.12).clip(0, 255).astype(np.uint8))
    assert np.array_equal(prepare_image(digit, strokes=True).pixels, prepare_image(digit).pixels)  # small: its greys are its anti-aliasing


def test_helpers() -> None:
    values = np.concatenate([np.full(100, 20.0), np.full(100, 200.0)])
    assert 20 <= otsu_threshold(values) < 200
    ink, inverted = ink_on_black(np.full((10, 10), 250.0))
    assert inverted and ink.max() == 5


def test_a_photographed_thing_is_laid_out_as_fashion_mnist_lays_it_out(canonical_data_dir: Path) -> None:
    from mnistlab import load_dataset

    fashion = load_dataset("fashion-mnist", data_dir=canonical_data_dir).x_test[:200]
    rng = np.random.default_rng(0)
    for images in ([Image.fromarray(x) for x in fashion], [photo_of(x, rng) for x in fashion]):  # as they are, photographed
        prepared = np.stack([prepare_picture(image).pixels for image in images]).astype(float)
        # each comes back about as it was: filling the frame, centred, not shrunk into MNIST's 20-pixel box
        assert np.median(np.abs(prepared - fashion).mean(axis=(1, 2))) < 20
        sides = [max(np.ptp(np.flatnonzero(p.any(axis=1))), np.ptp(np.flatnonzero(p.any(axis=0)))) + 1 for p in prepared]
        assert np.median(sides) == 28
    assert not prepare_picture(Image.new("L", (90, 60), 235)).pixels.any()  # an empty background is blank
