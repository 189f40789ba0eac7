"""Run folders: everything a training run produced, saved atomically and reloadable on its own.

A run folder holds::

    config.json        the resolved TrainConfig (replay with `mnistlab train --config`)
    architecture.json  input shape + layer specs, to rebuild the network without the recipe
    model.safetensors  the weights (tensors only, no pickled code)
    history.csv        one row per epoch: loss, accuracy, val_loss, val_accuracy, seconds
    metrics.json       train/test loss and accuracy, parameters, seconds, device, versions, status
    decision.json      the "unsure" thresholds, with decision.safetensors (feature statistics)
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from mnistlab.atomic import write_json, write_text, write_with
from mnistlab.checks import is_number, is_whole_number
from mnistlab.config import TrainConfig
from mnistlab.errors import MnistlabError
from mnistlab.models.ensemble import Ensemble
from mnistlab.models.network import Network

if TYPE_CHECKING:
    from mnistlab.prediction.predictor import Predictions

RUN_FILES = ("config.json", "architecture.json", "model.safetensors", "history.csv", "metrics.json")
DERIVED_FILES = ("model.onnx", "thresholds", "abstention.json", "tta")
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")


@dataclass(repr=False)
class Run:
    """A saved run, loaded back: its folder, config, history, metrics and network."""

    path: Path
    config: TrainConfig
    history: list[dict]
    metrics: dict
    network: Network | Ensemble  # an ensemble's folder (prediction/ensemble.py) holds several networks
    class_names: tuple[str, ...]

    def __repr__(self) -> str:
        m = self.metrics
        accuracy = m.get("test_accuracy")
        shown = "not tested" if accuracy is None else f"test_accuracy={accuracy:.4f}"
        if m.get("status") == "ensemble":  # its config is its first member's: name what it is instead
            model = f"ensemble of {len(m['members'])}" + (" with TTA" if m.get("tta") else "")
        else:
            model = self.config.model if isinstance(self.config.model, str) else "custom"
        return f"Run('{self.path}', model={model}, dataset={self.config.dataset}, {shown}, epochs={m.get('epochs_run')})"

    def predict(self, x: object, prepare: bool = True, engine: str = "torch", confidence: float | None = None,
                margin: float | None = None) -> Predictions:
        """Classes, probabilities and decisions for ``x`` (arrays, tensors, PIL images, paths): ``mnistlab.predict``.

        Prediction is a layer above runs; this one method reaches up to it, so that a notebook's run can predict.
        """
        from mnistlab.prediction.predictor import predict

        return predict(self, x, prepare=prepare, engine=engine, confidence=confidence, margin=margin)


def new_run_dir(runs_dir: str | Path, name: str) -> Path:
    """``runs_dir/<YYYYmmdd-HHMMSS>-<name>``, made unique with a counter if needed."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"
    base = Path(runs_dir) / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def history_csv(history: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in HISTORY_COLUMNS})
    return buffer.getvalue()


def save_run(path: str | Path, config: TrainConfig, network: Network, history: list[dict], metrics: dict, class_names: tuple[str, ...]) -> Path:
    """Write every file of a run folder, each atomically; outputs derived from earlier weights are removed."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for stale in DERIVED_FILES:  # made from earlier weights: an ONNX export, threshold tables
        target = path / stale
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    write_with(path / "model.safetensors", lambda tmp: save_file(state, str(tmp)))
    write_json(path / "architecture.json", {**network.architecture, "class_names": list(class_names)})
    write_json(path / "config.json", config.to_dict())
    write_text(path / "history.csv", history_csv(history))
    write_json(path / "metrics.json", metrics)
    return path


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise MnistlabError(f"{path} is unreadable ({exc}); the run folder is damaged") from None


def _text(value: object) -> bool:
    return isinstance(value, str)


def _number_or_none(value: object) -> bool:  # a run trained without its test set has no test numbers
    return value is None or is_number(value)


def _dataset_sizes(value: object) -> bool:
    return isinstance(value, dict) and _text(value.get("name")) and is_whole_number(value.get("train")) and is_whole_number(value.get("test"))


# What every run's metrics.json holds (training and ensembles write them), as `mnistlab runs` and reports read them.
METRIC_CHECKS: dict[str, Callable[[object], bool]] = {
    "status": _text, "train_loss": is_number, "train_accuracy": is_number, "test_loss": _number_or_none, "test_accuracy": _number_or_none,
    "epochs_run": is_whole_number, "params": is_whole_number, "seconds": is_number, "device": _text, "dataset": _dataset_sizes,
}
# What an ensemble's metrics.json adds (prediction/ensemble.py), checked where present: loading its TTA members and
# `mnistlab accuracy` read them.
OPTIONAL_METRIC_CHECKS: dict[str, Callable[[object], bool]] = {
    "members": lambda v: isinstance(v, list) and bool(v) and all(map(_text, v)),
    "tta": lambda v: isinstance(v, bool),
    "test_calibration": lambda v: isinstance(v, dict) and all(is_number(v.get(k)) for k in ("temperature", "ece_before", "ece_after")),
}


def _metrics_damage(metrics: object) -> str | None:
    """What is wrong with a run's metrics (keys missing, values of the wrong type), or None when nothing is."""
    if not isinstance(metrics, dict):
        return "not a table of metrics"
    missing = sorted(set(METRIC_CHECKS) - set(metrics))
    if missing:
        return f"lacks {', '.join(missing)}"
    checks = {**METRIC_CHECKS, **{key: fits for key, fits in OPTIONAL_METRIC_CHECKS.items() if key in metrics}}
    wrong = [key for key, fits in checks.items() if not fits(metrics[key])]
    return f"{', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} not what a run saves" if wrong else None


def read_metrics(folder: Path) -> dict:
    metrics = _read_json(folder / "metrics.json")
    damage = _metrics_damage(metrics)
    if damage:
        raise MnistlabError(f"{folder}/metrics.json is damaged ({damage}); the run folder cannot be loaded")
    return metrics


def read_history(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        try:
            return [
                {k: (int(v) if k == "epoch" else float(v)) if v != "" else None for k, v in row.items()}
                for row in csv.DictReader(handle)
            ]
        except (TypeError, ValueError) as exc:
            raise MnistlabError(f"{path} is damaged ({exc}); the run folder cannot be loaded") from None


def load_run(path: str | Path) -> Run:
    """Load a run folder: rebuild the network from its architecture and load the weights."""
    path = Path(path)
    if not path.is_dir():
        raise MnistlabError(f"run folder {path} does not exist; list runs with `mnistlab runs`")
    missing = [f for f in RUN_FILES if not (path / f).is_file()]
    if missing:
        raise MnistlabError(f"{path} is not a complete run folder (missing {', '.join(missing)})")
    architecture = _read_json(path / "architecture.json")
    if not ({"input_shape", "class_names"} <= set(architecture) and {"layers", "members"} & set(architecture)):
        raise MnistlabError(f"{path}/architecture.json is damaged (needs layers or members, input_shape, class_names)")
    class_names = architecture["class_names"]
    if not (isinstance(class_names, list) and all(isinstance(name, str) for name in class_names)):
        raise MnistlabError(f"{path}/architecture.json is damaged (class_names must be a list of names, got {class_names!r})")
    try:
        network = (Ensemble if "members" in architecture else Network).from_architecture(architecture)
    except (MnistlabError, TypeError, ValueError, KeyError) as exc:
        raise MnistlabError(f"{path}/architecture.json is damaged ({exc})") from None
    try:
        weights = load_file(str(path / "model.safetensors"))
    except (SafetensorError, OSError) as exc:
        raise MnistlabError(f"{path}/model.safetensors is damaged ({exc}); retrain the run or restore the file") from None
    try:
        network.load_state_dict(weights)
    except RuntimeError as exc:
        raise MnistlabError(f"{path}/model.safetensors does not fit its architecture ({str(exc).splitlines()[0]})") from None
    network.eval()
    if len(class_names) != network.num_classes:
        raise MnistlabError(f"{path}/architecture.json is damaged ({len(class_names)} class names for {network.num_classes} classes)")
    settings = _read_json(path / "config.json")
    if not isinstance(settings, dict) or "dataset" not in settings:
        raise MnistlabError(f"{path}/config.json is damaged (it does not say the run's dataset)")
    config = TrainConfig.from_dict(settings, where=f"{path}/config.json")
    return Run(path, config, read_history(path / "history.csv"), read_metrics(path), network, tuple(class_names))


@dataclass(frozen=True)
class RunListing:
    """A run folder found under a runs directory: its metrics, or what is wrong with it."""

    path: Path
    metrics: dict | None
    damage: str | None = None


def list_runs(runs_dir: str | Path) -> list[RunListing]:
    """Every run folder under ``runs_dir`` (recursively; a folder with any run file counts), sorted by name.

    A damaged or incomplete folder is listed with what is wrong, so one bad folder hides no other.
    """
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    folders = {f.parent for name in RUN_FILES for f in root.rglob(name)}
    listed = []
    for folder in sorted(folders, key=lambda p: p.name):
        missing = [f for f in RUN_FILES if not (folder / f).is_file()]
        if missing:
            listed.append(RunListing(folder, None, f"incomplete: missing {', '.join(missing)}"))
            continue
        try:
            listed.append(RunListing(folder, read_metrics(folder)))
        except MnistlabError as exc:
            listed.append(RunListing(folder, None, str(exc)))
    return listed
