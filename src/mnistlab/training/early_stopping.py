"""Early stopping with Keras's semantics (monitor, min_delta, patience, restore_best_weights)."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

import torch

from mnistlab.errors import MnistlabError

MONITORS = ("loss", "accuracy", "val_loss", "val_accuracy")


@dataclass
class EarlyStopping:
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    Accuracies are maximized, losses minimized. With ``restore_best_weights`` the network
    ends with the weights of its best epoch (whether or not training stopped early).
    """

    monitor: str = "val_loss"
    patience: int = 0
    min_delta: float = 0.0
    restore_best_weights: bool = False
    best: float | None = field(default=None, init=False)
    best_epoch: int | None = field(default=None, init=False)
    _wait: int = field(default=0, init=False)
    _best_state: dict | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.monitor not in MONITORS:
            raise MnistlabError(f"early stopping can monitor {', '.join(MONITORS)}, not '{self.monitor}'")
        if self.patience < 0 or self.min_delta < 0:
            raise MnistlabError("early stopping needs patience >= 0 and min_delta >= 0")

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_") and k not in ("best", "best_epoch")}

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if "accuracy" in self.monitor:
            return value - self.min_delta > self.best
        return value + self.min_delta < self.best

    def update(self, epoch: int, metrics: dict[str, float], network: torch.nn.Module) -> bool:
        """Record one finished epoch; return True when training should stop."""
        value = metrics.get(self.monitor)
        if value is None:
            raise MnistlabError(f"early stopping monitors '{self.monitor}' but there is no validation data; set validation")
        if self._improved(value):
            self.best, self.best_epoch, self._wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_state = copy.deepcopy(network.state_dict())
            return False
        self._wait += 1
        return self._wait >= self.patience

    def restore(self, network: torch.nn.Module) -> bool:
        """Load the best epoch's weights if asked to keep them; True if weights changed."""
        if self.restore_best_weights and self._best_state is not None:
            network.load_state_dict(self._best_state)
            return True
        return False
