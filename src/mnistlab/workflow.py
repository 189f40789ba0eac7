"""The notebook's whole workflow as one call: train a config, choose the run's decision thresholds, write its report.

The CLI's ``train`` and ``reproduce`` call this; ``runs.train.train`` alone stops at the saved run (the benchmark times that).
"""

from __future__ import annotations

from pathlib import Path

from mnistlab.config import TrainConfig
from mnistlab.data.dataset import Dataset
from mnistlab.data.loaders import load_dataset
from mnistlab.prediction.calibrate import calibrate_saved_run
from mnistlab.prediction.decision import save_rule
from mnistlab.runs.store import Run
from mnistlab.runs.train import train
from mnistlab.training.distributed import is_main_process
from mnistlab.training.progress import Progress, default_progress
from mnistlab.viz.report import write_report


def train_and_report(
    config: TrainConfig,
    data_dir: str | Path | None = None,
    out: str | Path | None = None,
    runs_dir: str | Path = "runs",
    progress: Progress | None = None,
    dataset: Dataset | None = None,
    report: bool = True,
) -> Run:
    """``train``, then the run's decision thresholds (``decision.json``) and, with ``report``, its figures and ``report.html``
    (under torchrun: rank 0's work)."""
    progress = progress or default_progress()
    dataset = dataset or load_dataset(config.dataset, data_dir, show_progress=True)
    run = train(config, out=out, runs_dir=runs_dir, progress=progress, dataset=dataset)
    if not is_main_process():  # under torchrun, rank 0 finishes the run folder
        return run
    save_rule(run.path, calibrate_saved_run(run, dataset))
    if report:
        write_report(run, dataset, progress.message)
    return run
