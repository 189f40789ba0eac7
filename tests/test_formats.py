"""A user's own data: image folders, Kaggle-style CSV, Keras-style .npz — good files load, bad ones say why."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import synthetic_digits
from mnistlab import MnistlabError, load_dataset
from mnistlab.cli.main import main


def write_csv(path: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    header = "label," + ",".join(f"pixel{i}" for i in range(images[0].size))
    rows = [f"{label}," + ",".join(str(v) for v in image.ravel()) for image, label in zip(images, labels)]
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_csv_loads_with_holdout(tmp_path: Path) -> None:
    images, labels = synthetic_digits(100)
    ds = load_dataset(str(write_csv(tmp_path / "train.csv", images, labels)))
    assert ds.x_train.shape == (90, 28, 28) and ds.x_test.shape == (10, 28, 28)
    assert ds.num_classes == 10
    assert sorted(ds.y_test.tolist()) == list(range(10))  # stratified: one of each class


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("pixel0,pixel1\n1,2\n", "no 'label' column"),
        ("label,p0,p1,p2\n1,2,3,4\n", "not a square image"),
        ("label,p0,p1,p2,p3\n1,2,3,x,4\n", "numeric"),
        ("label,p0,p1,p2,p3\n1,2,3,4\n", "numeric"),
        ("label,p0,p1,p2,p3\n1,2,3,4,300\n", "0..255"),
        ("label,p0,p1,p2,p3\n", "no rows"),
    ],
)
def test_bad_csv(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(MnistlabError, match=message):
        load_dataset(str(path))


def test_npz_loads(tmp_path: Path) -> None:
    x, y = synthetic_digits(50)
    np.savez(tmp_path / "mnist.npz", x_train=x[:40], y_train=y[:40], x_test=x[40:], y_test=y[40:])
    ds = load_dataset(str(tmp_path / "mnist.npz"))
    assert ds.x_train.shape == (40, 28, 28) and ds.y_test.tolist() == y[40:].tolist()


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x_train": np.zeros((2, 28, 28), np.uint8)}, "lacks y_train, x_test, y_test"),
        (
            {"x_train": np.zeros((2, 784), np.uint8), "y_train": np.zeros(2, np.int64),
             "x_test": np.zeros((1, 28, 28), np.uint8), "y_test": np.zeros(1, np.int64)},
            "x_train must be integer images N x H x W",
        ),
        (
            {"x_train": np.zeros((2, 28, 28), np.uint8), "y_train": np.zeros(3, np.int64),
             "x_test": np.zeros((1, 28, 28), np.uint8), "y_test": np.zeros(1, np.int64)},
            "2 train images but 3 labels",
        ),
    ],
)
def test_bad_npz(tmp_path: Path, arrays: dict, message: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(MnistlabError, match=message):
        load_dataset(str(tmp_path / "bad.npz"))


def test_npz_that_is_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(MnistlabError, match="not a readable .npz"):
        load_dataset(str(tmp_path / "junk.npz"))


def make_folder(root: Path, per_class: int = 10) -> Path:
    images, labels = synthetic_digits(per_class * 3)
    for i, (image, label) in enumerate(zip(images, labels % 3)):
        folder = root / ["cat", "dog", "owl"][label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).resize((56, 56)).convert("RGB").save(folder / f"{i}.png")
    return root


def test_image_folder(tmp_path: Path) -> None:
    ds = load_dataset(str(make_folder(tmp_path / "pets")))
    assert ds.class_names == ("cat", "dog", "owl")
    assert ds.image_shape == (28, 28) and len(ds.x_train) + len(ds.x_test) == 30


def test_image_folder_with_unreadable_image(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "pets")
    (root / "cat" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(MnistlabError, match="broken.png is not a readable image"):
        load_dataset(str(root))


def test_unknown_dataset_name_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("pixel0\n1\n")
    assert main(["data", "info", str(tmp_path / "bad.csv")]) == 2
    assert main(["data", "info", "emnist"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("mnistlab: error: ") for line in lines)
    assert "unknown dataset 'emnist'" in lines[1]
