"""``TrainConfig``: every setting of a training run in one place, as plain values.

A recipe's ``[train]`` table and the CLI's flags map 1:1 onto these fields; an unknown key
or a value of the wrong type is an error. The resolved config is saved in every run folder,
so a run can be replayed from it alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from mnistlab.data.preprocess import parse_validation
from mnistlab.errors import MnistlabError
from mnistlab.training.augment import Augmentation
from mnistlab.training.early_stopping import EarlyStopping
from mnistlab.training.optimizers import OPTIMIZERS

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "auto")
SCHEDULES = ("constant", "onecycle")


@dataclass
class TrainConfig:
    """Settings of one training run (defaults: the notebook CNN of *Deep Learning with Python* 5.1)."""

    name: str = "run"  # names the run folder
    dataset: str = "mnist"  # mnist | fashion-mnist | digits | a folder, .csv or .npz
    model: str | list = "cnn"  # a zoo name or a list of layer tables
    optimizer: str = "rmsprop"  # sgd | rmsprop | adam, with Keras defaults
    lr: float | None = None  # None: the optimizer's Keras default; with schedule "onecycle", the peak
    schedule: str = "constant"  # constant | onecycle (warm up to lr over 25% of the steps, then anneal to ~0)
    batch_size: int = 64  # images per gradient step
    epochs: int = 5  # passes over the training set
    validation: str | float = "test"  # "test" (as the notebooks), "none", or a held-out fraction of train
    seed: int = 0  # seeds shuffling, initialization, dropout and augmentation
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto: bf16 autocast where it is faster (CNNs on CPUs with AMX, CUDA), else fp32 | fp32 | bf16
    limit: int | None = None  # train on the first N training images only (quick tries)
    augment: dict | None = None  # Augmentation fields; {} for the notebook's values
    early_stopping: dict | None = None  # EarlyStopping fields (monitor, patience, min_delta, restore_best_weights)

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise MnistlabError(f"unknown optimizer '{self.optimizer}'; choose one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise MnistlabError(f"schedule must be one of {', '.join(SCHEDULES)}, got '{self.schedule}'")
        if self.precision not in PRECISIONS:
            raise MnistlabError(f"precision must be one of {', '.join(PRECISIONS)}, got '{self.precision}'")
        if self.device not in DEVICES:
            raise MnistlabError(f"device must be one of {', '.join(DEVICES)}, got '{self.device}'")
        for key in ("batch_size", "epochs", "limit"):
            value = getattr(self, key)
            if (key != "limit" or value is not None) and (not _is_int(value) or value < 1):
                raise MnistlabError(f"{key} must be a positive integer, got {value!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise MnistlabError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.lr is not None and (isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or self.lr <= 0):
            raise MnistlabError(f"lr must be a positive number, got {self.lr!r}")
        if not isinstance(self.model, (str, list)):
            raise MnistlabError("model must be a zoo name or a list of layer tables")
        self.validation = parse_validation(self.validation)
        self.augmentation()
        self.stopper()

    def augmentation(self) -> Augmentation | None:
        return None if self.augment is None else _build(Augmentation, self.augment, "augment")

    def stopper(self) -> EarlyStopping | None:
        return None if self.early_stopping is None else _build(EarlyStopping, self.early_stopping, "early_stopping")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "config") -> "TrainConfig":
        return _build(cls, values, where)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    """``cls(**values)`` with unknown keys and wrong types reported in one line."""
    if not isinstance(values, dict):
        raise MnistlabError(f"{where} must be a table of settings, got {values!r}")
    known = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(values) - known)
    if unknown:
        raise MnistlabError(f"{where}: unknown setting(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise MnistlabError(f"{where}: {exc}") from None


def merge(config: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """A copy of ``config`` with the non-None ``overrides`` applied (and checked)."""
    values = config.to_dict()
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(values)
