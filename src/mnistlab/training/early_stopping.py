"""Early stopping with Keras's semantics (monitor, min_delta, patience, restore_best_weights)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from mnistlab.errors import MnistlabError
from mnistlab.training.callbacks import Callback


@dataclass
class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    Accuracies are maximized, losses minimized. With ``restore_best_weights`` the network
    ends with the weights of its best epoch (whether or not training stopped early), as
    Keras 3 does. Built from a resolved config's ``early_stopping`` table (defaults and
    allowed monitors: ``config.EARLY_STOPPING_DEFAULTS``, ``config.MONITORS``).
    """

    monitor: str
    patience: int
    min_delta: float
    restore_best_weights: bool
    best: float | None = field(default=None, init=False)
    best_epoch: int | None = field(default=None, init=False)
    _wait: int = field(default=0, init=False)
    _best_state: dict | None = field(default=None, init=False, repr=False)

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if "accuracy" in self.monitor:
            return value - self.min_delta > self.best
        return value + self.min_delta < self.best

    restored: bool = field(default=False, init=False)

    def on_epoch_end(self, row: dict, network: torch.nn.Module) -> str | None:
        """Record one finished epoch; "early_stopped" once ``monitor`` has not improved for ``patience`` epochs."""
        value = row.get(self.monitor)
        if value is None:
            raise MnistlabError(f"early stopping monitors '{self.monitor}' but there is no validation data; set validation")
        if self._improved(value):
            self.best, self.best_epoch, self._wait = value, row["epoch"], 0
            if self.restore_best_weights:
                self._best_state = copy.deepcopy(network.state_dict())
            return None
        self._wait += 1
        return "early_stopped" if self._wait >= self.patience else None

    def on_train_end(self, network: torch.nn.Module) -> None:
        """Load the best epoch's weights if asked to keep them."""
        if self.restore_best_weights and self._best_state is not None:
            network.load_state_dict(self._best_state)
            self.restored = True
