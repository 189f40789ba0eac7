"""The IDX file format of MNIST (optionally gzip'd): a strict reader and a writer.

Header: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions,
then one big-endian uint32 per dimension, then the data. Images are 3-D (N, rows, cols),
labels 1-D (N,).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from mnistlab.atomic import atomic_path
from mnistlab.errors import MnistlabError

UBYTE = 0x08


def _decompress(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise MnistlabError(
            f"{path} is not a valid gzip file ({exc}); delete it and fetch it again"
        ) from None


def read_idx(path: str | Path, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (plain or .gz) into a uint8 array, checking header and size.

    ``ndim`` (3 for images, 1 for labels) rejects a file of the wrong kind.
    """
    path = Path(path)
    if not path.is_file():
        raise MnistlabError(f"IDX file {path} does not exist")
    data = _decompress(path)
    if len(data) < 4:
        raise MnistlabError(f"{path} is too short to be an IDX file ({len(data)} bytes)")
    zero, dtype_code, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != UBYTE or dims == 0:
        raise MnistlabError(
            f"{path} has a bad IDX magic number 0x{data[:4].hex()}; "
            "expected 0x00000801 (labels) or 0x00000803 (images)"
        )
    if ndim is not None and dims != ndim:
        kind = "labels (1-D)" if ndim == 1 else f"{ndim}-D images"
        raise MnistlabError(f"{path} holds {dims}-D data, expected {kind}; are the files swapped?")
    header = 4 + 4 * dims
    if len(data) < header:
        raise MnistlabError(f"{path} is truncated inside its IDX header")
    shape = struct.unpack(f">{dims}I", data[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise MnistlabError(
            f"{path} is {state}: header {shape} needs {expected} bytes, file has {len(data)}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def read_idx_pair(images_path: str | Path, labels_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read matching image and label IDX files, checking that their counts agree."""
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    if len(images) != len(labels):
        raise MnistlabError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels; "
            "the files do not belong together"
        )
    return images, labels


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file, gzip'd when ``path`` ends in .gz (atomically)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    payload = struct.pack(">HBB", 0, UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += array.tobytes()
    if str(path).endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
