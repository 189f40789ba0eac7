"""How many compute threads a training takes: the thread budget.

Measured on a 2-core machine (docs/benchmarks.md, "Parallel work"): two trainings with torch's
default threads (one per core each) run 4-5x slower per epoch than one alone, together doing
less than half its work, because each one's threads wait on the other's at every parallel
region; with one thread each they do more together than one alone. So:

- K workers sharing a machine (a sweep's ``--workers K``, torchrun's ranks) take ``cores // K``
  threads each (handed down in ``$MNISTLAB_THREADS``, or read from torchrun's ``$LOCAL_WORLD_SIZE``);
- a training on its own takes the cores that are free when it starts (the others' load sampled
  from ``/proc/stat`` over a fifth of a second), at least one, and follows them as it runs
  (``FreeCores``): two trainings started side by side each drop to the core the other leaves,
  and one that finishes hands its core back;
- ``$MNISTLAB_THREADS`` set by hand wins over all of these and stays fixed.

The thread count splits reductions differently, which changes a run's numbers (within seed noise),
so a run records the counts it used (``metrics.json``: ``threads``); fix ``$MNISTLAB_THREADS`` to
replay it exactly.
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


class FreeCores:
    """How many cores other processes leave free, measured over the window since the last reading.

    This process's own share counts its threads and its finished child processes (a Keras
    reference run as a subprocess is not "other" work)."""

    def __init__(self) -> None:
        self._last = self._reading()

    @staticmethod
    def _reading() -> tuple[float, float, float, float] | None:
        try:
            busy, total = _cpu_times()
        except (OSError, ValueError, IndexError):
            return None
        own = os.times()
        return busy, total, own.user + own.system + own.children_user + own.children_system, time.monotonic()

    def others_busy(self) -> float:
        """Cores kept busy by other processes since the last call (0 where unknown)."""
        now, last = self._reading(), self._last
        self._last = now
        if now is None or last is None or now[3] <= last[3] or now[1] <= last[1]:
            return 0.0
        cores = os.cpu_count() or 1
        jiffies_per_core = (now[1] - last[1]) / cores
        own = (now[2] - last[2]) / (now[3] - last[3])  # this process's cores, its spinning threads included
        return max(0.0, (now[0] - last[0]) / jiffies_per_core - own)

    def threads(self) -> int:
        """Threads that fit in the cores others left free over the window: at least 1; a full core
        back only once others leave three quarters of it (so that light noise does not flap it)."""
        return max(1, min(usable_cores(), int(usable_cores() - self.others_busy() + 0.25)))


def busy_cores(seconds: float = 0.2) -> float:
    """How many of the machine's cores other processes keep busy over the next ``seconds``."""
    watch = FreeCores()
    time.sleep(seconds)
    return watch.others_busy()


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


def fixed_threads() -> int | None:
    """The thread count set for this process (``$MNISTLAB_THREADS``, or a share among torchrun's ranks here); None: free to follow the load."""
    requested = requested_threads()
    if requested is not None:
        return requested
    ranks_here = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))  # torchrun's processes on this machine
    return share(ranks_here) if ranks_here > 1 else None


def thread_budget() -> int:
    """Threads for a training about to start: the fixed count, else the cores others leave free now."""
    fixed = fixed_threads()
    if fixed is not None:
        return fixed
    watch = FreeCores()
    time.sleep(0.2)
    return watch.threads()


def use_threads(threads: int) -> int:
    """Make this process's torch (and the OpenMP runtime it shares with the native kernel) use ``threads``."""
    torch.set_num_threads(threads)
    return threads
