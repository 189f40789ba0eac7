"""Settings: every setting of a training run, with its default and its allowed values, declared once.

This module is the bottom of the flow: plain values and tables, importing none of the code
they configure. A recipe's ``[train]`` table, a saved ``config.json`` and the CLI's flags
(derived from the fields below, help text included) all map 1:1 onto ``TrainConfig``; an
unknown key or a value of the wrong type is an error. ``resolved()`` fills in every default
(the optimizer's learning rate, the augmentation ranges, early stopping's monitor), and that
resolved config is what a run saves, so ``--config`` replays exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from mnistlab.checks import is_number, is_whole_number
from mnistlab.errors import MnistlabError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "auto")
SCHEDULES = ("constant", "onecycle")
MONITORS = ("loss", "accuracy", "val_loss", "val_accuracy")
ENGINES = ("torch", "onnx")  # inference: torch, or onnxruntime on an exported model

# Keras's defaults for the optimizers the notebooks name (the update rules are in training/optimizers.py).
OPTIMIZER_DEFAULTS: dict[str, dict[str, Any]] = {
    "sgd": {"lr": 0.01},
    "rmsprop": {"lr": 0.001, "rho": 0.9, "eps": 1e-7},
    "adam": {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-7},
}
# The batch-norm notebook's (003) ImageDataGenerator ranges: degrees, fractions of a side, degrees, scale;
# and Keras's horizontal_flip (mirror half the images: for clothes, not for digits), off there, as are
# shifts by whole pixels only (sharp shifted images, where fractional ones blur by interpolation).
AUGMENT_DEFAULTS: dict[str, float | bool] = {"rotation": 8.0, "shift": 0.08, "shear": 0.3, "zoom": 0.08, "horizontal_flip": False,
                                            "whole_pixel_shifts": False}
# Outlier exposure (training/outliers.py): scribbles per batch as a share of its images, the weight of
# their loss beside the batch's, and how many different scribbles are drawn for the run.
OUTLIER_DEFAULTS: dict[str, float | int] = {"share": 0.25, "weight": 0.5, "images": 10_000}
# The CPU speed-ups (speedups.py), each on unless a run switches it off; docs/benchmarks.md has each one's gain.
SPEEDUP_DEFAULTS: dict[str, bool] = {"native_first_stage": True, "flat_parameters": True, "keep_freed_memory": True, "fp32_small_dense": True}
# Keras's EarlyStopping defaults, except the monitor: Keras watches val_loss too.
EARLY_STOPPING_DEFAULTS: dict[str, Any] = {"monitor": "val_loss", "patience": 0, "min_delta": 0.0, "restore_best_weights": False}


def _help(text: str, flag: bool = True) -> dict:
    return {"help": text, "flag": flag}


@dataclass
class TrainConfig:
    """Settings of one training run (defaults: the notebook CNN of notebook 001, *Deep Learning with Python* 5.1)."""

    name: str = field(default="", metadata=_help("names the run folder (default: the recipe's name, else the model's)"))
    dataset: str = field(default="mnist", metadata=_help("mnist, fashion-mnist, digits, or a folder / .csv / .npz"))
    model: str | list = field(default="cnn", metadata=_help("a model name from `mnistlab models` (a recipe may give a list of layer tables)"))
    optimizer: str = field(default="rmsprop", metadata=_help("sgd, rmsprop or adam, with Keras's defaults and update rules"))
    lr: float | None = field(default=None, metadata=_help("the constant learning rate (default: the optimizer's Keras default)"))
    schedule: str = field(default="constant", metadata=_help("constant, or onecycle: warm up to peak_lr over 25%% of the steps, then anneal to ~0"))
    peak_lr: float | None = field(default=None, metadata=_help("with --schedule onecycle, the learning rate at the top of the cycle (default: the optimizer's)"))
    weight_decay: float = field(default=0.0, metadata=_help("Keras's decoupled weight decay (as AdamW): each step every weight first shrinks "
                                                            "by learning rate x weight_decay of itself; 0: none"))
    label_smoothing: float = field(default=0.0, metadata=_help("Keras's label smoothing: train towards 1 - s on the true class plus s / classes "
                                                               "on every class; 0: none, the notebooks' one-hot targets"))
    batch_size: int = field(default=64, metadata=_help("images per gradient step"))
    epochs: int = field(default=5, metadata=_help("passes over the training set"))
    validation: str | float = field(default="test", metadata=_help("'test' (as the notebooks), 'none', or a held-out fraction of train such as 0.1"))
    seed: int = field(default=0, metadata=_help("seeds shuffling, initialization, dropout and augmentation (same seed + device = same history)"))
    split_seed: int | None = field(default=None, metadata=_help("seeds which images the validation fraction holds out (default: seed); "
                                                                "runs given one split_seed hold out the same images, as an ensemble of them needs"))
    device: str = field(default="auto", metadata=_help("auto (CUDA when present), cpu or cuda"))
    precision: str = field(default="auto", metadata=_help("auto (bf16 autocast where measured faster: CNNs on AMX CPUs, CUDA), fp32 or bf16"))
    limit: int | None = field(default=None, metadata=_help("train on the first N training images only (quick tries)"))
    augment: dict | None = field(default=None, metadata=_help("ranges of on-the-fly augmentation; {} for notebook 003's", flag=False))
    outliers: dict | None = field(default=None, metadata=_help("outlier exposure: teach 'unsure' on synthetic scribbles; {} for the "
                                                                "defaults (share, weight, images)", flag=False))
    early_stopping: dict | None = field(default=None, metadata=_help("monitor, patience, min_delta, restore_best_weights", flag=False))
    speedups: dict | None = field(default=None, metadata=_help("speed-ups to switch off, e.g. {native_first_stage = false}", flag=False))

    def __post_init__(self) -> None:
        _one_of("optimizer", self.optimizer, tuple(OPTIMIZER_DEFAULTS))
        _one_of("schedule", self.schedule, SCHEDULES)
        _one_of("precision", self.precision, PRECISIONS)
        _one_of("device", self.device, DEVICES)
        for key in ("batch_size", "epochs", "limit"):
            value = getattr(self, key)
            if (key != "limit" or value is not None) and (not is_whole_number(value) or value < 1):
                raise MnistlabError(f"{key} must be a positive integer, got {value!r}")
        for key in ("seed", "split_seed"):
            value = getattr(self, key)
            if (key == "seed" or value is not None) and (not is_whole_number(value) or value < 0):
                raise MnistlabError(f"{key} must be a non-negative integer, got {value!r}")
        for key in ("lr", "peak_lr"):
            value = getattr(self, key)
            if value is not None and (not is_number(value) or value <= 0):
                raise MnistlabError(f"{key} must be a positive number, got {value!r}")
        if not is_number(self.weight_decay) or not self.weight_decay >= 0:
            raise MnistlabError(f"weight_decay must be zero or a positive number, got {self.weight_decay!r}")
        if not is_number(self.label_smoothing) or not 0 <= self.label_smoothing < 1:
            raise MnistlabError(f"label_smoothing must be at least 0 and below 1, got {self.label_smoothing!r}")
        if self.schedule == "constant" and self.peak_lr is not None:
            raise MnistlabError("peak_lr is the top of a onecycle schedule; with a constant schedule give lr")
        if self.schedule == "onecycle" and self.lr is not None:
            raise MnistlabError("a onecycle schedule has no constant lr; give its peak as peak_lr")
        if not isinstance(self.model, (str, list)):
            raise MnistlabError("model must be a zoo name or a list of layer tables")
        if not isinstance(self.name, str):
            raise MnistlabError(f"name must be a string, got {self.name!r}")
        if not isinstance(self.dataset, str):
            raise MnistlabError(f"dataset must be a dataset's name or a path, got {self.dataset!r}")
        self.validation = parse_validation(self.validation)
        if self.augment is not None:
            _table("augment", self.augment, AUGMENT_DEFAULTS)
        if self.outliers is not None:
            outliers = _table("outliers", self.outliers, OUTLIER_DEFAULTS)
            if not 0 < outliers["share"] <= 1 or outliers["weight"] <= 0 or not is_whole_number(outliers["images"]) or outliers["images"] < 1:
                raise MnistlabError(f"outliers needs 0 < share <= 1, weight > 0 and a positive whole number of images, got {outliers}")
        if self.early_stopping is not None:
            stopping = _table("early_stopping", self.early_stopping, EARLY_STOPPING_DEFAULTS)
            _one_of("early_stopping monitor", stopping["monitor"], MONITORS)
            if stopping["patience"] < 0 or stopping["min_delta"] < 0:
                raise MnistlabError("early stopping needs patience >= 0 and min_delta >= 0")
        if self.speedups is not None:
            _table("speedups", self.speedups, SPEEDUP_DEFAULTS)

    @property
    def holdout_seed(self) -> int:
        """The seed of the validation split: ``split_seed``, else ``seed``."""
        return self.seed if self.split_seed is None else self.split_seed

    @property
    def mirrored(self) -> bool:
        """Whether training showed mirrored images (``horizontal_flip``), so test-time augmentation may show mirrors too."""
        return bool((self.augment or {}).get("horizontal_flip", False))

    def resolved(self) -> "TrainConfig":
        """This config with every default filled in: the values a run actually uses."""
        name = self.name or (self.model if isinstance(self.model, str) else "custom-model")
        default = OPTIMIZER_DEFAULTS[self.optimizer]["lr"]
        lr = None if self.schedule == "onecycle" else self.lr or default
        peak_lr = self.peak_lr or default if self.schedule == "onecycle" else None
        augment = None if self.augment is None else _table("augment", self.augment, AUGMENT_DEFAULTS)
        outliers = None if self.outliers is None else _table("outliers", self.outliers, OUTLIER_DEFAULTS)
        stopping = None if self.early_stopping is None else _table("early_stopping", self.early_stopping, EARLY_STOPPING_DEFAULTS)
        speedups = _table("speedups", self.speedups or {}, SPEEDUP_DEFAULTS)
        return replace(self, name=name, lr=lr, peak_lr=peak_lr, augment=augment, outliers=outliers, early_stopping=stopping, speedups=speedups)

    @property
    def learning_rate(self) -> float | None:
        """The optimizer's learning rate: ``lr``, or with a onecycle schedule the peak it starts the cycle from."""
        return self.peak_lr if self.schedule == "onecycle" else self.lr

    def to_dict(self) -> dict:
        return asdict(self)

    def with_settings(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes`` applied and checked; a change given as None leaves that setting as it is."""
        return merge(self, changes)

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "config") -> "TrainConfig":
        return _build(cls, values, where)


def parse_validation(validation: str | float) -> str | float:
    """``"test"``, ``"none"`` or a holdout fraction of the training set in (0, 1)."""
    if isinstance(validation, str) and validation in ("test", "none"):
        return validation
    try:
        fraction = float(validation)
    except (TypeError, ValueError):
        fraction = -1.0
    if not 0 < fraction < 1:
        raise MnistlabError(f"validation must be 'test', 'none' or a fraction in (0, 1) of the training set, got {validation!r}")
    return fraction


def _one_of(what: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise MnistlabError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")


def _table(what: str, values: object, defaults: dict[str, Any]) -> dict[str, Any]:
    """``values`` over ``defaults``, every key known and every value of its default's type."""
    if not isinstance(values, dict):
        raise MnistlabError(f"{what} must be a table of settings, got {values!r}")
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise MnistlabError(f"{what}: unknown setting(s) {', '.join(unknown)}; allowed: {', '.join(defaults)}")
    merged = {**defaults, **values}
    for key, default in defaults.items():
        value = merged[key]
        numeric = is_number(default)
        if (numeric and not is_number(value)) or (not numeric and type(value) is not type(default)):
            raise MnistlabError(f"{what}: {key} must be of the type of its default {default!r}, got {value!r}")
    return merged


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
    except MnistlabError as exc:
        raise MnistlabError(f"{where}: {exc}") from None


def merge(config: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """A copy of ``config`` with the non-None ``overrides`` applied (and checked)."""
    values = config.to_dict()
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(values)
