"""The risk-coverage picture and its threshold table, written beside a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnistlab.atomic import write_text
from mnistlab.evaluation.risk_coverage import risk_coverage, threshold_table
from mnistlab.tables import csv_table
from mnistlab.viz.canvas import figure, save_png


def write_threshold_report(probabilities: np.ndarray, labels: np.ndarray, folder: Path, title: str) -> tuple[Path, Path, list[dict]]:
    """risk-coverage.png and thresholds.csv in ``folder``."""
    thresholds, coverage, accuracy = risk_coverage(probabilities, labels)
    rows = threshold_table(thresholds, coverage, accuracy)
    fig = figure(8, 4.5)
    ax = fig.add_subplot()
    ax.plot(coverage, accuracy, color="tab:blue")
    for row in rows:
        if row["threshold"] is not None:
            ax.plot(row["coverage"], row["accuracy"], "o", label=f"{row['target_accuracy']:.1%}: threshold {row['threshold']:.4f}, answers {row['coverage']:.1%}")
    ax.set_xlabel("coverage (share of images answered)")
    ax.set_ylabel("accuracy of the answered images")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    png = save_png(fig, folder / "risk-coverage.png")
    headers = ["target_accuracy", "threshold", "coverage", "accuracy"]
    body = [["" if r[k] is None else f"{r[k]:.6f}" for k in headers] for r in rows]
    csv_path = folder / "thresholds.csv"
    write_text(csv_path, csv_table(headers, body))
    return png, csv_path, rows
