"""How many compute threads a training takes: the thread budget.

Measured on a 2-core machine (docs/benchmarks.md, "Parallel work"): two trainings with torch's
default threads (one per core each) run 4-5x slower per epoch than one alone, together doing
less than half its work, because each one's threads wait on the other's at every parallel
region; with one thread each they do more together than one alone. So:

- K workers sharing a machine (a sweep's ``--workers K``, torchrun's ranks) take ``cores // K``
  threads each (handed down in ``$MNISTLAB_THREADS``, or read from torchrun's ``$LOCAL_WORLD_SIZE``);
- a training on its own takes the cores that are free when it starts (the others' load sampled
  from ``/proc/stat`` over a fifth of a second), at least one;
- ``$MNISTLAB_THREADS`` (or ``--threads``) set by hand wins over both.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from mnistlab.errors import MnistlabError

THREADS_VARIABLE = "MNISTLAB_THREADS"


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup CPU quota where one is set."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text(encoding="utf-8").split()[:2]
        if quota != "max":
            cores = min(cores, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores


def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat's first line."""
    values = [float(v) for v in Path("/proc/stat").read_text(encoding="utf-8").split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
    return sum(values[:8]) - idle, sum(values[:8])


def busy_cores(seconds: float = 0.2) -> float:
    """How many of the machine's cores other processes kept busy over the next ``seconds`` (0 where unknown)."""
    try:
        busy_before, total_before = _cpu_times()
        own_before = time.process_time()
        time.sleep(seconds)
        busy_after, total_after = _cpu_times()
        own = time.process_time() - own_before
    except (OSError, ValueError, IndexError):
        return 0.0
    cores = os.cpu_count() or 1
    elapsed = (total_after - total_before) / cores  # jiffies per core in the window
    if elapsed <= 0:
        return 0.0
    return max(0.0, (busy_after - busy_before) / elapsed - own / seconds)


def requested_threads() -> int | None:
    """``$MNISTLAB_THREADS`` as a positive integer, or None when unset."""
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise MnistlabError(f"${THREADS_VARIABLE} must be a positive number of threads, got {value!r}")
    return int(value)


def share(workers: int) -> int:
    """Threads for each of ``workers`` processes sharing this machine: ``cores // workers``, at least 1."""
    return max(1, usable_cores() // max(1, workers))


def thread_budget() -> int:
    """Threads for a training about to start: ``$MNISTLAB_THREADS``, else a share among torchrun's ranks here, else the cores others leave free."""
    requested = requested_threads()
    if requested is not None:
        return requested
    ranks_here = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))  # torchrun's processes on this machine
    if ranks_here > 1:
        return share(ranks_here)
    cores = usable_cores()
    return max(1, min(cores, round(cores - busy_cores())))


def use_threads(threads: int) -> int:
    """Make this process's torch (and the OpenMP runtime it shares with the native kernel) use ``threads``."""
    torch.set_num_threads(threads)
    return threads
