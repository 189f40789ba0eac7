"""Ctrl-C during training: finish the current batch, then stop and keep the run."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from mnistlab.training.callbacks import Callback


class StopFlag(Callback):
    """Set by the first Ctrl-C (a second one interrupts at once); training stops after the current batch."""

    def __init__(self) -> None:
        self.requested = False

    def on_batch_end(self, epoch: int, epochs: int, step: int, steps: int, loss_sum: torch.Tensor, seen: int) -> str | None:
        return "interrupted" if self.requested else None


@contextmanager
def graceful_interrupt() -> Iterator[StopFlag]:
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: object) -> None:
        flag.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
