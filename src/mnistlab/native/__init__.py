"""Native kernels: C sources in this folder, compiled on first use by the machine's C compiler.

A kernel is built once per source, compiler and CPU, for that CPU (``-march=native``), into
``MNISTLAB_HOME/native/`` (written to a temporary file, then renamed), and loaded with ctypes.
It uses OpenMP; with torch imported first, it shares torch's OpenMP runtime and thread count.

Compiling says so in one line on stderr; where no compiler works, the kernels are unavailable,
callers use their torch path, and one line on stderr says so (``unavailable_reason`` says why
too). ``MNISTLAB_NATIVE=0`` turns them off, silently; so does a run's ``speedups``.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

import torch  # noqa: F401  (loaded first, so the kernels link to torch's OpenMP runtime)

from mnistlab.atomic import atomic_path
from mnistlab.data.sources import home_dir
from mnistlab.device import cpu_identity

SOURCES = Path(__file__).parent
FLAGS = ("-O3", "-march=native", "-fopenmp", "-shared", "-fPIC")


def _compiler() -> list[str]:
    return shlex.split(os.environ.get("CC") or "cc")


def _build(name: str) -> Path:
    """The compiled library of ``name``.c, compiling it on first use; raises OSError if that fails."""
    source = SOURCES / f"{name}.c"
    compiler = _compiler()
    key = hashlib.sha256("\0".join([source.read_text(encoding="utf-8"), *compiler, *FLAGS, cpu_identity()]).encode()).hexdigest()
    library = home_dir() / "native" / f"{name}-{key[:16]}.so"
    if not library.exists():
        print(f"mnistlab: compiling the native {name} kernel for this CPU, once, into {library.parent}", file=sys.stderr, flush=True)
        with atomic_path(library) as tmp:
            try:
                result = subprocess.run([*compiler, *FLAGS, str(source), "-o", str(tmp)], capture_output=True, text=True)
            except OSError as error:
                raise OSError(f"no C compiler ({' '.join(compiler)}: {error.strerror})") from error
            if result.returncode != 0:
                lines = result.stderr.strip().splitlines() or ["no message"]
                first_error = next((line for line in lines if "error" in line), lines[-1])
                raise OSError(f"{' '.join(compiler)} failed to compile {source.name}: {first_error.strip()}")
    return library


@functools.cache
def _load(name: str) -> ctypes.CDLL | str:
    if os.environ.get("MNISTLAB_NATIVE", "1") == "0":
        return "turned off by MNISTLAB_NATIVE=0"
    try:
        return ctypes.CDLL(str(_build(name)))
    except OSError as error:
        print(f"mnistlab: note: the native {name} kernel is unavailable ({error}); those layers run in torch", file=sys.stderr, flush=True)
        return str(error)


def kernel(name: str) -> ctypes.CDLL | None:
    """The loaded library of ``name``.c, or None where it is unavailable (see ``unavailable_reason``)."""
    loaded = _load(name)
    return loaded if isinstance(loaded, ctypes.CDLL) else None


def unavailable_reason(name: str) -> str | None:
    """Why ``kernel(name)`` is None, or None when it is available."""
    loaded = _load(name)
    return None if isinstance(loaded, ctypes.CDLL) else loaded
