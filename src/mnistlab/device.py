"""Choosing the torch device from ``auto | cpu | cuda``, and what the CPU is."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

import torch

from mnistlab.config import DEVICES
from mnistlab.errors import MnistlabError


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available; asking for ``cuda`` without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise MnistlabError("--device cuda was requested but no CUDA device is available; use --device cpu or auto")
    if name not in DEVICES:
        raise MnistlabError(f"device must be one of {', '.join(DEVICES)}, got '{name}'")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed torch's generators (CPU and CUDA): shuffling, init, dropout and augmentation."""
    torch.manual_seed(seed)


@functools.cache
def _cpu_info() -> tuple[str, ...]:
    """The lines of /proc/cpuinfo; none where the system has no such file."""
    try:
        return tuple(Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines())
    except OSError:
        return ()


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo where there is one, else the platform's word for it, with the
    widest vector maths it offers torch's kernels: a cloud's plain "AMD EPYC" has named machines
    that train the same CNN more than twice apart in time, and the name alone cannot tell them apart."""
    model = next((line.split(":", 1)[1].strip() for line in _cpu_info() if line.startswith("model name")), "")
    name = model or platform.processor() or platform.machine()
    units = vector_units()
    return f"{name}, {units}" if units else name


def this_machine() -> str:
    """This machine as the reports name it: the CPU, the threads torch computes with, and torch's version."""
    return f"{cpu_name()} ({torch.get_num_threads()} threads), torch {torch.__version__}"


def vector_units() -> str:
    """The widest of AMX, AVX-512 and AVX2 in the CPU's flags; "" for none of them (or no /proc/cpuinfo)."""
    flags = set(next((line.split(":", 1)[1].split() for line in _cpu_info() if line.startswith("flags")), []))
    return next((name for flag, name in (("amx_tile", "AMX"), ("avx512f", "AVX-512"), ("avx2", "AVX2")) if flag in flags), "")


def cpu_identity() -> str:
    """The CPU's model and feature flags (a binary built for one CPU may not run on another)."""
    return "\n".join(sorted({line for line in _cpu_info() if line.startswith(("model name", "flags"))})) or cpu_name()


def cpu_has_amx() -> bool:
    """Whether the CPU has AMX bf16 tiles (where bf16 matrix maths is much faster than fp32)."""
    return any(line.startswith("flags") and "amx_bf16" in line for line in _cpu_info())


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
