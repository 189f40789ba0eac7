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


def cpu_has_amx() -> bool:
    """Whether the CPU has AMX bf16 tiles (where bf16 matrix maths is much faster than fp32)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return any(line.startswith("flags") and "amx_bf16" in line for line in handle)
    except OSError:
        return False


def autocast_dtype(precision: str, device: torch.device, convolutional: bool = True) -> torch.dtype | None:
    """The autocast dtype for training, or None for plain fp32.

    ``auto`` means bf16 on CUDA with bf16 support, and on CPUs with AMX for convolutional
    networks only: measured on a 2-core AMX Xeon, bf16 makes the notebook CNNs 2-2.5x faster
    per epoch but the notebooks' small MLPs (batch 32-128) slower, the casts costing more than
    the matrix products gain.
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    fast = torch.cuda.is_bf16_supported() if device.type == "cuda" else convolutional and cpu_has_amx()
    return torch.bfloat16 if fast else None
