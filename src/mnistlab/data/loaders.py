"""``load_dataset``: one entry point for built-in datasets and a user's own files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnistlab.data.dataset import Dataset
from mnistlab.data.formats import load_csv, load_image_folder, load_npz
from mnistlab.data.idx import read_idx_pair
from mnistlab.data.registry import BUILTIN_NAMES, IDX_DATASETS
from mnistlab.data.sources import locate
from mnistlab.data.split import stratified_holdout
from mnistlab.errors import MnistlabError

DIGITS_HOLDOUT_SEED = 42  # fixed, so every run of the digits recipes sees the same test set


def load_digits() -> Dataset:
    """scikit-learn's 8x8 digits (values 0-16) with a stratified 10% test holdout."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = bunch.images.astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    train, test = stratified_holdout(labels, test_fraction=0.1, seed=DIGITS_HOLDOUT_SEED)
    classes = tuple(str(d) for d in range(10))
    return Dataset("digits", images[train], labels[train], images[test], labels[test], classes, 16, "scikit-learn")


def load_idx_dataset(name: str, data_dir: str | Path | None = None, show_progress: bool = False) -> Dataset:
    """MNIST or Fashion-MNIST from a local copy, the cache, or a verified download."""
    spec = IDX_DATASETS[name]
    paths = locate(spec, data_dir, show_progress=show_progress)
    x_train, y_train = read_idx_pair(paths[spec.train_images.name], paths[spec.train_labels.name])
    x_test, y_test = read_idx_pair(paths[spec.test_images.name], paths[spec.test_labels.name])
    source = str(paths[spec.train_images.name].parent)
    return Dataset(spec.name, x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64), spec.class_names, 255, source)


def load_dataset(name: str, data_dir: str | Path | None = None, show_progress: bool = False) -> Dataset:
    """Load a dataset by name (``mnist``, ``fashion-mnist``, ``digits``) or from a path.

    A path may be a folder of class subfolders of images, a ``.csv`` (label + pixel columns)
    or an ``.npz`` (``x_train, y_train, x_test, y_test``).

    Examples
    --------
    >>> ds = load_dataset("digits")
    >>> ds.x_train.shape, ds.max_value
    ((1617, 8, 8), 16)
    """
    if name in IDX_DATASETS:
        return load_idx_dataset(name, data_dir, show_progress)
    if name == "digits":
        return load_digits()
    path = Path(name).expanduser()
    if path.is_dir():
        return load_image_folder(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        return load_csv(path)
    if path.is_file() and path.suffix.lower() == ".npz":
        return load_npz(path)
    if path.exists():
        raise MnistlabError(f"{path}: unsupported data file; use a .csv, an .npz or a folder of class subfolders")
    raise MnistlabError(
        f"unknown dataset '{name}'; use one of {', '.join(BUILTIN_NAMES)}, "
        "a folder of class subfolders, a .csv or an .npz"
    )
