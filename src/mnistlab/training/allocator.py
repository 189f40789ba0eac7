"""Keep freed host memory in the process, so training steps stop page-faulting their activations in.

glibc serves large allocations with ``mmap`` and hands freed ones straight back to the kernel,
so every training step re-faults its big activation tensors page by page. Raising the mmap
threshold and switching off trimming keeps that memory for reuse (measured in docs/speed-notes.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
KEEP_UP_TO = 1 << 30  # blocks below 1 GiB come from the heap ...
NEVER_TRIM = (1 << 31) - 1  # ... and stay there once freed (the largest value a C int holds)


@functools.cache
def keep_freed_memory() -> bool:
    """Tune glibc's malloc for training; False where the C library is not glibc (nothing to tune)."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, KEEP_UP_TO)) and bool(mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))
