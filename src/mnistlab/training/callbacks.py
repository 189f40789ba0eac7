"""Observing training, as Keras's callbacks do: the progress display, early stopping, Ctrl-C and the
benchmark's lockstep all watch ``fit`` through these two hooks instead of parameters of their own.

A hook returns None to let training go on, or the reason to stop: ``"interrupted"`` after a
batch (the epoch is cut short), ``"early_stopped"`` after an epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from mnistlab.threads import FreeCores


class Callback:
    """Does nothing; subclasses override what they watch."""

    def on_batch_end(self, epoch: int, epochs: int, step: int, steps: int, loss_sum: torch.Tensor, seen: int) -> str | None:
        """After each batch; ``loss_sum`` is the epoch's summed loss so far, on the device (reading it synchronizes)."""
        return None

    def on_epoch_end(self, row: dict, network: torch.nn.Module) -> str | None:
        """After each epoch, with its history row (epoch, epochs, loss, accuracy, val_*, seconds)."""
        return None

    def on_train_end(self, network: torch.nn.Module) -> None:
        """Once, after the last epoch."""


class AfterEachEpoch(Callback):
    """Calls ``hook`` after each epoch, once the epoch's time is taken (the Keras reference's turn, in lockstep)."""

    def __init__(self, hook: Callable[[], object]) -> None:
        self.hook = hook

    def on_epoch_end(self, row: dict, network: torch.nn.Module) -> str | None:
        self.hook()
        return None


class FollowFreeCores(Callback):
    """Every ``every`` seconds, sets torch's thread count to the cores other processes leave free
    (threads.py): down when another training starts beside this one, up again when it ends."""

    def __init__(self, every: float = 2.0) -> None:
        self.watch, self.every, self.last = FreeCores(), every, time.monotonic()
        self.used = {torch.get_num_threads()}

    def on_batch_end(self, epoch: int, epochs: int, step: int, steps: int, loss_sum: torch.Tensor, seen: int) -> str | None:
        if time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            threads = self.watch.threads()
            if threads != torch.get_num_threads():
                torch.set_num_threads(threads)
                self.used.add(threads)
        return None
