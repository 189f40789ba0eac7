"""Choosing the torch device from ``auto | cpu | cuda``."""

from __future__ import annotations

import torch

from mnistlab.errors import MnistlabError


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available; asking for ``cuda`` without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise MnistlabError("--device cuda was requested but no CUDA device is available; use --device cpu or auto")
    if name not in ("cpu", "cuda"):
        raise MnistlabError(f"device must be auto, cpu or cuda, got '{name}'")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed torch's generators (CPU and CUDA): shuffling, init, dropout and augmentation."""
    torch.manual_seed(seed)
