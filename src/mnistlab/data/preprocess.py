"""From uint8 images to model-ready tensors, as the notebooks prepare them.

Images are scaled by ``1 / max_value`` (255, or 16 for digits) and either flattened
(N, H*W) for dense networks or kept as (N, 1, H, W) for convolutions. Everything stays
resident in memory (on the training device) so batches are cut by indexing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mnistlab.config import parse_validation
from mnistlab.data.dataset import Dataset
from mnistlab.data.split import stratified_holdout


@dataclass
class Tensors:
    """Train / validation / test tensors; ``x_val`` is None when there is no validation data."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor | None
    y_val: torch.Tensor | None
    x_test: torch.Tensor
    y_test: torch.Tensor
    image_shape: tuple[int, int]  # (H, W) of one image, however the tensors are shaped


def prepare_images(images: np.ndarray, max_value: int, flat: bool, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 images (N, H, W) → float32 in [0, 1], shaped (N, H*W) or (N, 1, H, W)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    x = x.to(torch.float32).mul_(1.0 / max_value)
    return x.reshape(len(x), -1) if flat else x.unsqueeze(1)


def one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Integer labels → one-hot float rows, as ``keras.utils.to_categorical``."""
    return torch.nn.functional.one_hot(labels, num_classes).to(torch.float32)


def to_tensors(
    dataset: Dataset,
    flat: bool,
    validation: str | float = "test",
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> Tensors:
    """Scale, shape and split ``dataset``; ``validation`` is ``"test"``, ``"none"`` or a fraction."""
    validation = parse_validation(validation)
    x_train, y_train = dataset.x_train, dataset.y_train
    x_val = y_val = None
    if isinstance(validation, float):
        keep, held = stratified_holdout(y_train, validation, seed)
        x_val, y_val = x_train[held], y_train[held]
        x_train, y_train = x_train[keep], y_train[keep]

    def images(x: np.ndarray) -> torch.Tensor:
        return prepare_images(x, dataset.max_value, flat, device)

    def labels(y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)).to(device)

    x_test, y_test = images(dataset.x_test), labels(dataset.y_test)
    if validation == "test":
        x_val_t, y_val_t = x_test, y_test
    elif x_val is not None:
        x_val_t, y_val_t = images(x_val), labels(y_val)
    else:
        x_val_t = y_val_t = None
    return Tensors(images(x_train), labels(y_train), x_val_t, y_val_t, x_test, y_test, dataset.image_shape)
