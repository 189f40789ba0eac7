"""The comparison of several runs: overlaid validation curves, the table, and an HTML page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from mnistlab.atomic import write_text
from mnistlab.evaluation.compare import comparison
from mnistlab.tables import csv_table, markdown_table, text_table
from mnistlab.runs.store import Run
from mnistlab.viz import html
from mnistlab.viz.canvas import figure, save_png


def overlaid_curves(runs: list[Run]):
    """Validation loss and accuracy of every run on two panels (train curves where there is no validation)."""
    fig = figure(11, 4.2)
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy")):
        for run in runs:
            epochs = [row["epoch"] for row in run.history]
            has_val = any(row.get(f"val_{metric}") is not None for row in run.history)
            key = f"val_{metric}" if has_val else metric
            values = [np.nan if row.get(key) is None else row[key] for row in run.history]
            ax.plot(epochs, values, "o-", markersize=3, label=run.path.name + ("" if has_val else " (train)"))
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {metric}")
        ax.set_title(f"Validation {metric}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def write_comparison(runs: list[Run], out: str | Path, progress: Callable[[str], None] = print) -> dict[str, Path]:
    """Write comparison.md, comparison.csv, curves.png and comparison.html into ``out``; print the table."""
    out = Path(out)
    headers, rows = comparison(runs)
    progress(text_table(headers, rows))
    paths = {
        "markdown": out / "comparison.md",
        "csv": out / "comparison.csv",
        "curves": save_png(overlaid_curves(runs), out / "curves.png"),
        "html": out / "comparison.html",
    }
    write_text(paths["markdown"], markdown_table(headers, rows))
    write_text(paths["csv"], csv_table(headers, rows))
    links = "".join(
        f'<li><a href="{(r.path / "report.html").resolve().as_uri()}">{html.escape(r.path.name)}</a></li>'
        for r in runs if (r.path / "report.html").is_file()
    )
    body = [
        html.section("table", "Runs side by side", html.table(headers, rows)),
        html.section("curves", "Validation curves", html.figure_img(paths["curves"], "overlaid validation curves")),
    ]
    if links:
        body.append(html.section("reports", "Single-run reports", f"<ul>{links}</ul>"))
    write_text(paths["html"], html.page("mnistlab comparison", f"{len(runs)} runs", body))
    progress(f"Comparison written to {out} (comparison.md, comparison.csv, curves.png, comparison.html)")
    return paths
