"""Comparing runs: what differs in their configs, and their numbers side by side."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mnistlab.errors import MnistlabError
from mnistlab.runs.store import Run, load_run
from mnistlab.tables import fixed

NUMBER_COLUMNS = ["train acc", "test acc", "train loss", "test loss", "gap (train-test acc)", "params", "seconds"]


def _has_dropout(run: Run) -> bool:
    return any(spec["type"] == "dropout" and float(spec["rate"]) > 0 for spec in run.network.specs)


def differing_settings(runs: list[Run]) -> list[str]:
    """Config keys whose values differ between the runs (the run name aside)."""
    configs = [r.config.to_dict() for r in runs]
    return [key for key in configs[0] if key != "name" and any(c[key] != configs[0][key] for c in configs[1:])]


def _describe(value: object) -> str:
    if isinstance(value, list):
        return f"{len(value)} layers"
    return "—" if value is None else str(value)


def comparison(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: run, dropout Y/N, each differing setting, then the numbers."""
    settings = differing_settings(runs)
    headers = ["run", "dropout", *settings, *NUMBER_COLUMNS]
    rows = []
    for run in runs:
        m = run.metrics
        rows.append([
            run.path.name,
            "Y" if _has_dropout(run) else "N",
            *(_describe(run.config.to_dict()[key]) for key in settings),
            f"{m['train_accuracy']:.4f}",
            fixed(m['test_accuracy']),
            f"{m['train_loss']:.4f}",
            fixed(m['test_loss']),
            "—" if m['test_accuracy'] is None else f"{m['train_accuracy'] - m['test_accuracy']:+.4f}",
            f"{m['params']:,}",
            f"{m['seconds']:.1f}",
        ])
    return headers, rows


@dataclass(frozen=True)
class Comparison:
    """Runs side by side: the settings that differ and their numbers (``comparison``'s table)."""

    runs: list[Run]
    headers: list[str]
    rows: list[list[str]]


def compare(*runs: Run | str | Path) -> Comparison:
    """Compare two or more runs, given as loaded runs or run folders."""
    if len(runs) < 2:
        raise MnistlabError(f"compare needs two or more runs, got {len(runs)}")
    loaded = [run if isinstance(run, Run) else load_run(run) for run in runs]
    return Comparison(loaded, *comparison(loaded))
