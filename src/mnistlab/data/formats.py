"""A user's own data: a folder of class subfolders, a Kaggle-style CSV, or a Keras-style .npz."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from mnistlab.data.dataset import Dataset
from mnistlab.data.split import stratified_holdout
from mnistlab.errors import MnistlabError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _split(name: str, x: np.ndarray, y: np.ndarray, classes: tuple[str, ...], source: str, seed: int) -> Dataset:
    train, test = stratified_holdout(y, test_fraction=0.1, seed=seed)
    return Dataset(name, x[train], y[train], x[test], y[test], classes, 255, source)


def _read_image(path: Path, size: tuple[int, int]) -> np.ndarray:
    try:
        with Image.open(path) as image:
            gray = image.convert("L")
            if gray.size != (size[1], size[0]):
                gray = gray.resize((size[1], size[0]), Image.Resampling.LANCZOS)
            return np.asarray(gray, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise MnistlabError(f"{path} is not a readable image ({exc}); remove it or replace it") from None


def _read_class_folders(root: Path, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    classes = tuple(sorted(d.name for d in root.iterdir() if d.is_dir()))
    if not classes:
        raise MnistlabError(f"{root} has no class subfolders; put each class's images in a folder named after it")
    images, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise MnistlabError(f"class folder {root / name} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        images += [_read_image(p, size) for p in files]
        labels += [label] * len(files)
    return np.stack(images), np.array(labels, dtype=np.int64), classes


def load_image_folder(root: str | Path, size: tuple[int, int] = (28, 28), seed: int = 0) -> Dataset:
    """Images in ``root/<class>/``, or ``root/train/<class>/`` and ``root/test/<class>/``.

    Images are converted to grayscale and resized to ``size``. Without train/test folders,
    a stratified 10% of each class is held out as the test set.
    """
    root = Path(root)
    if (root / "train").is_dir() and (root / "test").is_dir():
        x_train, y_train, classes = _read_class_folders(root / "train", size)
        x_test, y_test, test_classes = _read_class_folders(root / "test", size)
        if test_classes != classes:
            raise MnistlabError(
                f"{root}/train has classes {list(classes)} but {root}/test has {list(test_classes)}; use the same folders"
            )
        return Dataset(root.name, x_train, y_train, x_test, y_test, classes, 255, str(root))
    x, y, classes = _read_class_folders(root, size)
    return _split(root.name, x, y, classes, str(root), seed)


def load_csv(path: str | Path, seed: int = 0) -> Dataset:
    """A CSV with a header, a ``label`` column and one column per pixel (Kaggle digit-recognizer).

    The pixel count must be a square (784 = 28x28); values 0-255. A stratified 10% is the test set.
    """
    path = Path(path)
    with path.open(encoding="utf-8", errors="replace") as handle:
        header = handle.readline().strip().split(",")
    if "label" not in header:
        raise MnistlabError(f"{path}: no 'label' column in the header; expected label,pixel0,...,pixel783")
    side = int(round((len(header) - 1) ** 0.5))
    if side * side != len(header) - 1 or side == 0:
        raise MnistlabError(
            f"{path}: {len(header) - 1} pixel columns is not a square image; expected 784 (28x28)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # an empty table is reported below
            table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise MnistlabError(f"{path}: {exc}; every row needs {len(header)} numeric values") from None
    if len(table) == 0:
        raise MnistlabError(f"{path} has a header but no rows")
    if table.shape[1] != len(header):
        raise MnistlabError(
            f"{path}: rows have {table.shape[1]} values but the header has {len(header)} columns; "
            f"every row needs {len(header)} numeric values"
        )
    if np.any(table != np.round(table)) or table.min() < 0:
        raise MnistlabError(f"{path}: labels and pixels must be non-negative integers")
    label_col = header.index("label")
    labels = table[:, label_col].astype(np.int64)
    pixels = np.delete(table, label_col, axis=1)
    if pixels.max() > 255:
        raise MnistlabError(f"{path}: pixel values must lie in 0..255, found {int(pixels.max())}")
    images = pixels.astype(np.uint8).reshape(-1, side, side)
    classes = tuple(str(c) for c in range(int(labels.max()) + 1))
    return _split(path.stem, images, labels, classes, str(path), seed)


def load_npz(path: str | Path) -> Dataset:
    """A Keras-style ``mnist.npz``: ``x_train, y_train, x_test, y_test`` (uint8 images N x H x W)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in NPZ_KEYS if k not in archive.files]
            if missing:
                raise MnistlabError(
                    f"{path} lacks {', '.join(missing)}; an .npz needs arrays {', '.join(NPZ_KEYS)}"
                )
            arrays = {k: archive[k] for k in NPZ_KEYS}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise MnistlabError(f"{path} is not a readable .npz archive ({exc})") from None
    for key in ("x_train", "x_test"):
        x = arrays[key]
        if x.ndim != 3 or x.dtype.kind not in "ui" or (x.size and (x.min() < 0 or x.max() > 255)):
            raise MnistlabError(f"{path}: {key} must be integer images N x H x W in 0..255, got {x.dtype} {x.shape}")
    for key in ("y_train", "y_test"):
        y = arrays[key]
        if y.ndim != 1 or y.dtype.kind not in "ui":
            raise MnistlabError(f"{path}: {key} must be a 1-D integer label array, got {y.dtype} {y.shape}")
    num_classes = int(max(arrays["y_train"].max(initial=0), arrays["y_test"].max(initial=0))) + 1
    return Dataset(
        path.stem,
        arrays["x_train"].astype(np.uint8),
        arrays["y_train"].astype(np.int64),
        arrays["x_test"].astype(np.uint8),
        arrays["y_test"].astype(np.int64),
        tuple(str(c) for c in range(num_classes)),
        255,
        str(path),
    )
