"""Reading people's images safely: from files, folders, globs, IDX files or stdin, with size limits."""

from __future__ import annotations

import glob
import io
import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from mnistlab.data.formats import IMAGE_SUFFIXES
from mnistlab.data.idx import read_idx
from mnistlab.errors import MnistlabError

MAX_PIXELS = 40_000_000  # larger images are refused (a decompression bomb guard)
IDX_SUFFIXES = ("-ubyte", "-ubyte.gz", ".idx", ".idx.gz", ".idx3", ".idx3.gz")


def open_image(data: bytes, name: str) -> Image.Image:
    """Decode image bytes fully, refusing empty, truncated, non-image and oversized input."""
    if not data:
        raise MnistlabError(f"{name} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise MnistlabError(f"{name} is {image.width}x{image.height} pixels; the limit is {MAX_PIXELS:,} pixels")
            image.load()
    except MnistlabError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MnistlabError(f"{name} is too large to decode safely; the limit is {MAX_PIXELS:,} pixels") from None
    except UnidentifiedImageError:
        raise MnistlabError(f"{name} is not an image PIL can read (PNG, JPEG, BMP, GIF, TIFF, WebP)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise MnistlabError(f"{name} is a damaged or truncated image ({exc})") from None
    return image


def _is_idx(path: Path) -> bool:
    return path.name.endswith(IDX_SUFFIXES)


def _expand(item: str) -> list[Path]:
    path = Path(item)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and (p.suffix.lower() in IMAGE_SUFFIXES or _is_idx(p)))
        if not files:
            raise MnistlabError(f"folder {path} holds no images")
        return files
    if path.is_file():
        return [path]
    matches = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
    if not matches:
        raise MnistlabError(f"{item}: no such file, folder or matching glob")
    return matches


def gather_images(inputs: list[str]) -> list[tuple[str, Image.Image]]:
    """(name, image) for every input: image files, folders, globs, IDX image files (one entry per image), ``-`` for stdin."""
    found: list[tuple[str, Image.Image]] = []
    for item in inputs:
        if item == "-":
            found.append(("<stdin>", open_image(sys.stdin.buffer.read(), "<stdin>")))
            continue
        for path in _expand(item):
            if _is_idx(path):
                images = read_idx(path, ndim=3)
                found += [(f"{path}[{i}]", Image.fromarray(np.ascontiguousarray(img))) for i, img in enumerate(images)]
            else:
                found.append((str(path), open_image(path.read_bytes(), str(path))))
    return found
