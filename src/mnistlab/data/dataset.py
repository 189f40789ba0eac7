"""The in-memory dataset every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from mnistlab.errors import MnistlabError


@dataclass(frozen=True, repr=False)
class Dataset:
    """Train and test images (uint8, N x H x W) with integer labels and class names.

    ``max_value`` is the largest pixel value of the format (255, or 16 for digits):
    images are scaled by ``1 / max_value`` before training.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    max_value: int = 255
    source: str = ""

    def __repr__(self) -> str:
        height, width = self.image_shape
        return (f"Dataset('{self.name}', train={len(self.x_train):,}, test={len(self.x_test):,}, "
                f"images {height}x{width} (0-{self.max_value}), {self.num_classes} classes)")

    def first(self, limit: int | None) -> "Dataset":
        """This dataset with only its first ``limit`` training images (all of them for None)."""
        if limit is None or limit >= len(self.x_train):
            return self
        return replace(self, x_train=self.x_train[:limit], y_train=self.y_train[:limit])

    def __post_init__(self) -> None:
        for split, x, y in (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test)):
            if x.ndim != 3:
                raise MnistlabError(f"{self.name}: {split} images must be N x H x W, got shape {x.shape}")
            if len(x) != len(y):
                raise MnistlabError(
                    f"{self.name}: {len(x)} {split} images but {len(y)} labels; counts must agree"
                )
            if len(y) and (y.min() < 0 or y.max() >= len(self.class_names)):
                raise MnistlabError(
                    f"{self.name}: {split} labels must lie in 0..{len(self.class_names) - 1}, "
                    f"got {int(y.min())}..{int(y.max())}"
                )
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise MnistlabError(
                f"{self.name}: train images are {self.x_train.shape[1:]} but test images "
                f"{self.x_test.shape[1:]}; they must have one size"
            )

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> dict:
        """Key facts as plain values, for ``data info`` and run metadata."""
        return {
            "name": self.name,
            "source": self.source,
            "train": len(self.x_train),
            "test": len(self.x_test),
            "image_shape": list(self.image_shape),
            "max_value": self.max_value,
            "classes": list(self.class_names),
            "train_counts": np.bincount(self.y_train, minlength=self.num_classes).tolist(),
            "test_counts": np.bincount(self.y_test, minlength=self.num_classes).tolist(),
        }
