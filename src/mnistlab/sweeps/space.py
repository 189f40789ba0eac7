"""A sweep's search space, read from a recipe's ``[sweep]`` table, and how a trial's values become a config.

::

    [sweep]
    validation = 0.1          # the objective's held-out fraction of the training set (default 0.1)
    trials = 20               # how many trials to finish (default: the grid's size, else 20)
    prune = true              # stop poor trials early on their per-epoch validation accuracy

    [sweep.params]
    lr = { low = 1e-4, high = 1e-2, log = true }   # a float range (log or linear)
    epochs = { low = 2, high = 8 }                  # an int range (both ends integers; step optional)
    batch_size = [32, 128, 10000]                   # a choice

A parameter named like a ``[train]`` setting sets it. Any other name must appear in ``[train]``
as ``$name``, inside a string or as a whole value, for example ``model = "mlp-$hidden-$activation"``
or ``{ type = "dropout", rate = "$rate" }``. Every parameter a choice: a grid, run in full;
otherwise Optuna's TPE sampler.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any

from mnistlab.checks import is_number, is_whole_number
from mnistlab.config import TrainConfig, parse_validation
from mnistlab.errors import MnistlabError

SWEEP_KEYS = {"params", "validation", "trials", "prune"}
DEFAULT_TRIALS = 20
PLACEHOLDER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
SETTINGS = {f for f in TrainConfig.__dataclass_fields__ if f not in ("name", "validation")}


@dataclass(frozen=True)
class Range:
    """A number drawn from [low, high]: an int range when both ends are integers, else a float range."""

    low: float
    high: float
    log: bool = False
    step: int | None = None

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)


@dataclass(frozen=True)
class SearchSpace:
    """The parameters of a sweep and the recipe settings they fill in."""

    params: dict[str, Range | tuple]
    settings: dict[str, Any]  # the recipe's [train] table, placeholders and all
    validation: float = 0.1
    trials: int | None = None
    prune: bool = True
    placeholders: frozenset[str] = field(default=frozenset())

    @property
    def is_grid(self) -> bool:
        return all(isinstance(spec, tuple) for spec in self.params.values())

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of the choices (a grid sweep's trials), in order."""
        names = list(self.params)
        return [dict(zip(names, values)) for values in itertools.product(*(self.params[n] for n in names))]

    @property
    def trial_count(self) -> int:
        """Trials to finish: the table's ``trials``, else the whole grid, else 20."""
        return self.trials or (len(self.grid()) if self.is_grid else DEFAULT_TRIALS)

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Draw each parameter from an Optuna trial."""
        values = {}
        for name, spec in self.params.items():
            if isinstance(spec, tuple):
                values[name] = trial.suggest_categorical(name, list(spec))
            elif spec.integer:
                values[name] = trial.suggest_int(name, spec.low, spec.high, step=spec.step or 1, log=spec.log)
            else:
                values[name] = trial.suggest_float(name, spec.low, spec.high, log=spec.log)
        return values

    def config(self, values: dict[str, Any], name: str) -> TrainConfig:
        """The training config of one trial: the settings with ``values`` filled in, validated on the held-out split."""
        settings = {k: v for k, v in values.items() if k in SETTINGS and k not in self.placeholders}
        filled = {key: _fill(value, values) for key, value in self.settings.items()}
        return TrainConfig.from_dict({**filled, **settings, "name": name, "validation": self.validation}, where=f"trial {values}")

    def to_dict(self) -> dict[str, Any]:
        """The space as plain values (stored with the study, so a worker on another machine needs no file)."""
        params = {n: list(s) if isinstance(s, tuple) else {"low": s.low, "high": s.high, "log": s.log, "step": s.step} for n, s in self.params.items()}
        return {"params": params, "settings": self.settings, "validation": self.validation, "trials": self.trials, "prune": self.prune}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SearchSpace":
        table = {"params": {n: {k: v for k, v in s.items() if v is not None} if isinstance(s, dict) else s for n, s in data["params"].items()},
                 "validation": data["validation"], "prune": data["prune"], **({"trials": data["trials"]} if data.get("trials") else {})}
        return parse_space(table, data["settings"], "the stored study")


def parse_space(table: object, settings: dict[str, Any], where: str) -> SearchSpace:
    """Check a ``[sweep]`` table against the recipe's ``[train]`` settings; one clear error for anything wrong."""
    if not isinstance(table, dict):
        raise MnistlabError(f"{where} [sweep] must be a table, got {table!r}")
    unknown = sorted(set(table) - SWEEP_KEYS)
    if unknown:
        raise MnistlabError(f"{where} [sweep]: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(SWEEP_KEYS))}")
    raw = table.get("params")
    if not isinstance(raw, dict) or not raw:
        raise MnistlabError(f"{where} [sweep] needs a params table with at least one parameter, e.g. lr = {{ low = 1e-4, high = 1e-2, log = true }}")
    used = _placeholders(settings)
    params = {name: _param(name, spec, f"{where} [sweep.params] {name}") for name, spec in raw.items()}
    for name in params:
        if name not in SETTINGS and name not in used:
            raise MnistlabError(
                f"{where} [sweep.params]: unknown parameter '{name}': it is not a training setting "
                f"({', '.join(sorted(SETTINGS))}) and [train] has no ${name} to fill in"
            )
    missing = sorted(used - set(params))
    if missing:
        raise MnistlabError(f"{where} [train] uses ${', $'.join(missing)} but [sweep.params] does not define it")
    trials = table.get("trials")
    if trials is not None and (not is_whole_number(trials) or trials < 1):
        raise MnistlabError(f"{where} [sweep]: trials must be a positive integer, got {trials!r}")
    prune = table.get("prune", True)
    if not isinstance(prune, bool):
        raise MnistlabError(f"{where} [sweep]: prune must be true or false, got {prune!r}")
    validation = parse_validation(table.get("validation", 0.1))
    if not isinstance(validation, float):
        raise MnistlabError(f"{where} [sweep]: validation must be a fraction of the training set such as 0.1 (a sweep never chooses on the test set)")
    return SearchSpace(params, settings, validation, trials, prune, frozenset(used))


def _param(name: str, spec: object, where: str) -> Range | tuple:
    if isinstance(spec, list):
        if not spec:
            raise MnistlabError(f"{where}: an empty list of choices; give at least one value")
        if not all(isinstance(v, (str, int, float, bool)) for v in spec):
            raise MnistlabError(f"{where}: choices must be strings, numbers or booleans, got {spec!r}")
        return tuple(spec)
    if not isinstance(spec, dict):
        raise MnistlabError(f"{where}: give a list of choices or a range {{ low = ..., high = ... }}, got {spec!r}")
    unknown = sorted(set(spec) - {"low", "high", "log", "step"})
    if unknown or "low" not in spec or "high" not in spec:
        raise MnistlabError(f"{where}: a range has low, high and optionally log and step, got {spec!r}")
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    if not all(is_number(v) and math.isfinite(v) for v in (low, high)):
        raise MnistlabError(f"{where}: low and high must be numbers, got {low!r} and {high!r}")
    if not low < high:
        raise MnistlabError(f"{where}: an empty range: low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise MnistlabError(f"{where}: a log range needs low > 0, got {low}")
    if not isinstance(log, bool) or (step is not None and (not is_whole_number(step) or step < 1)):
        raise MnistlabError(f"{where}: log must be true or false and step a positive integer")
    if step is not None and not (isinstance(low, int) and isinstance(high, int)):
        raise MnistlabError(f"{where}: step is for integer ranges (low and high both integers)")
    return Range(low, high, log, step)


def _placeholders(value: object) -> set[str]:
    """The ``$names`` used anywhere in ``value`` (strings, lists, tables)."""
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        return set().union(*(_placeholders(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_placeholders(v) for v in value)) if value else set()
    return set()


def _fill(value: object, values: dict[str, Any]) -> object:
    """``value`` with each ``$name`` replaced: a whole-string placeholder keeps the value's type."""
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value)
        if whole:
            return values[whole.group(1)]
        return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), value)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value
