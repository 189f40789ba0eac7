"""What training prints: a line per epoch, and a live progress bar when the terminal is interactive.

In a Jupyter kernel, ``default_progress`` gives ``NotebookProgress`` instead: one display in the
cell, updated in place.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import torch

from mnistlab.training.callbacks import Callback

METRIC_ORDER = ("loss", "accuracy", "val_loss", "val_accuracy")


def format_epoch(row: dict) -> str:
    """``Epoch 3/5 - 4.1s - loss: 0.0412 - accuracy: 0.9871 - val_loss: ...``"""
    parts = [f"Epoch {row['epoch']}/{row['epochs']}", f"{row['seconds']:.1f}s"]
    parts += [f"{k}: {row[k]:.4f}" for k in METRIC_ORDER if row.get(k) is not None]
    return " - ".join(parts)


class Progress(Callback):
    """Prints epoch lines; with ``live``, also a bar redrawn at most every 0.2 s.

    Only the live bar reads the running loss back from the device, so a non-interactive
    run never synchronizes inside the training loop.
    """

    def __init__(self, stream: TextIO | None = None, live: bool | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.live = (not quiet) and (self.stream.isatty() if live is None else live)
        self._last_draw = 0.0

    def on_batch_end(self, epoch: int, epochs: int, step: int, steps: int, loss_sum: torch.Tensor, seen: int) -> str | None:
        if not self.live or (time.monotonic() - self._last_draw < 0.2 and step < steps):
            return None
        self._last_draw = time.monotonic()
        width = 30
        filled = width * step // steps
        bar = "=" * filled + ">" * (filled < width) + "." * (width - filled - 1)
        loss = loss_sum.item() / max(seen, 1)
        self.stream.write(f"\rEpoch {epoch}/{epochs} [{bar[:width]}] {step}/{steps} - loss: {loss:.4f}")
        self.stream.flush()
        return None

    def on_epoch_end(self, row: dict, network: torch.nn.Module) -> str | None:
        if not self.quiet:
            prefix = "\r\033[K" if self.live else ""
            self.stream.write(prefix + format_epoch(row) + "\n")
            self.stream.flush()
        return None

    def message(self, text: str) -> None:
        if not self.quiet:
            self.stream.write(text + "\n")
            self.stream.flush()


def in_notebook() -> bool:
    """True inside a Jupyter kernel (not a terminal IPython, not plain Python)."""
    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return False
    shell = sys.modules["IPython"].get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def default_progress() -> Progress:
    """What a training shows when nobody chose: a live cell display in a notebook, else text lines."""
    if in_notebook():
        from mnistlab.training.notebook_progress import NotebookProgress

        return NotebookProgress()
    return Progress()
