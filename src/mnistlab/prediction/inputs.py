"""What ``predict`` accepts from Python: arrays, tensors, PIL images, paths, and lists of them.

Everything becomes named 8-bit grayscale images, the form the CLI reads from files, so a notebook
and ``mnistlab predict`` give the same answer for the same image: uint8 (or integer) pixels are
taken as they are, float pixels in 0-1 are scaled to 0-255 and rounded, as saving a PNG would.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from mnistlab.errors import MnistlabError
from mnistlab.prediction.images import gather_images

ACCEPTED = ("numpy arrays or torch tensors, uint8 0-255 or float 0-1, shaped (N, H, W), (N, H*W), (N, 1, H, W) or (H, W); "
            "PIL images; image paths; or a list of these")


def _refuse(what: str) -> MnistlabError:
    return MnistlabError(f"cannot predict on {what}; predict accepts {ACCEPTED}")


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Pixels on the 0-255 scale as uint8: integers as they are, floats in 0-1 scaled by 255."""
    if array.dtype.kind in "ui":
        if array.size and (array.min() < 0 or array.max() > 255):
            raise _refuse(f"{array.dtype} pixels in {array.min()}..{array.max()} (integer pixels must lie in 0..255)")
        return array.astype(np.uint8)
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise _refuse("float pixels with NaN or infinity")
        if array.size and (array.min() < 0 or array.max() > 1):
            raise _refuse(f"float pixels in {array.min():g}..{array.max():g} (float pixels must lie in 0-1: divide 0-255 images by 255, or pass them as uint8)")
        return np.rint(array * 255).astype(np.uint8)
    raise _refuse(f"an array of dtype {array.dtype}")


def as_images(array: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """An array of one or many images as (N, H, W); ``input_size`` tells flat rows (N, H*W) from one image."""
    height, width = input_size
    shape = array.shape
    if array.ndim == 2 and shape != (height, width) and shape[1] == height * width:
        return array.reshape(len(array), height, width)
    if array.ndim == 2:
        return array[None]
    if array.ndim == 3:
        return array
    if array.ndim == 4 and shape[1] == 1:
        return array[:, 0]
    if array.ndim == 4 and shape[3] == 1:
        return array[..., 0]
    raise _refuse(f"an array of shape {shape}")


def _as_numpy(x: object) -> np.ndarray | None:
    if isinstance(x, np.ndarray):
        return x
    if type(x).__module__.startswith("torch") and hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return None


def named_images(x: object, input_size: tuple[int, int]) -> list[tuple[str, Image.Image]]:
    """(name, image) for everything in ``x``; arrays are named ``[i]``, files by their path."""
    array = _as_numpy(x)
    if array is not None:
        images = to_uint8(as_images(array, input_size))
        if len(images) == 0:
            raise _refuse("an empty array")
        return [(f"[{i}]", Image.fromarray(np.ascontiguousarray(image))) for i, image in enumerate(images)]
    if isinstance(x, Image.Image):
        return [("image", x)]
    if isinstance(x, (str, Path)):
        return gather_images([str(x)])
    if isinstance(x, Sequence) and not isinstance(x, (bytes, bytearray)):
        if len(x) == 0:
            raise _refuse("an empty list")
        found = []
        for i, item in enumerate(x):
            if isinstance(item, Sequence) and not isinstance(item, (str, bytes, bytearray)):
                raise _refuse(f"a nested list at item {i} (make it a numpy array first)")
            inner = named_images(item, input_size)
            if isinstance(item, (str, Path)):
                found += inner
            elif len(inner) == 1:
                found.append((f"[{i}]", inner[0][1]))
            else:
                found += [(f"[{i}]{name}", image) for name, image in inner]
        return found
    raise _refuse(f"an object of type {type(x).__name__}")
