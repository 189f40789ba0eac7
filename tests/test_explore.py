"""Exploring a dataset: printed facts, the pixel matrix, and every picture, for 28x28, 8x8 and a user's classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import synthetic_digits
from mnistlab import load_dataset
from mnistlab.cli.main import main
from mnistlab.data.dataset import Dataset
from mnistlab.viz.explore import dataset_facts, explore, matprint

COMMON = {"samples.png", "class-distribution.png", "pixel-intensities.png", "pixel-maxima.png", "class-means.png"}


def assert_png(path: Path, min_width: int = 300, min_height: int = 200) -> None:
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= min_width and image.height >= min_height, (path, image.size)


def test_explore_digits_writes_every_picture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explore", "digits", "--out", str(tmp_path)]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert COMMON <= names
    class_grids = sorted(n for n in names if n.startswith("class-0") or n.startswith("class-1"))
    assert len([n for n in names if n.startswith("class-") and n[6:8].isdigit()]) == 10, class_grids
    for path in tmp_path.iterdir():
        assert_png(path)
    out = capsys.readouterr().out
    assert "train (1617, 8, 8), test (180, 8, 8), dtype uint8, values 0..16, missing values: 0" in out
    assert "[16/15]" not in out and "[15/15]" in out  # progress counts every picture


def test_fashion_class_grids_are_named(tmp_path: Path, data_dir: Path) -> None:
    paths = explore(load_dataset("fashion-mnist"), tmp_path, progress=lambda _: None)
    names = {p.name for p in paths}
    assert "class-00-t-shirt-top.png" in names and "class-09-ankle-boot.png" in names
    assert_png(tmp_path / "class-09-ankle-boot.png", 500, 500)


def test_same_seed_same_grid(tmp_path: Path) -> None:
    dataset = load_dataset("digits")
    first = explore(dataset, tmp_path / "a", seed=3, progress=lambda _: None)[0].read_bytes()
    again = explore(dataset, tmp_path / "b", seed=3, progress=lambda _: None)[0].read_bytes()
    other = explore(dataset, tmp_path / "c", seed=4, progress=lambda _: None)[0].read_bytes()
    assert first == again and first != other


def test_facts() -> None:
    dataset = load_dataset("digits")
    facts = dataset_facts(dataset)
    assert sum(facts["train_counts"]) == 1617 and facts["value_range"] == [0, 16]
    zero_mean = dataset.x_train[dataset.y_train == 0].mean()
    assert facts["class_mean_intensity"][0] == pytest.approx(zero_mean)


def test_matprint_is_aligned() -> None:
    image = np.array([[0, 5, 255], [17, 0, 3]], dtype=np.uint8)
    text = matprint(image)
    assert text.splitlines() == ["  0   5 255", " 17   0   3"]


def test_user_dataset_with_three_classes(tmp_path: Path) -> None:
    x, y = synthetic_digits(60)
    dataset = Dataset("pets", x[:45], y[:45] % 3, x[45:], y[45:] % 3, ("cat", "dog", "owl"))
    paths = explore(dataset, tmp_path, progress=lambda _: None)
    assert len(paths) == len(COMMON) + 3
    for path in paths:
        assert_png(path, 200, 150)
