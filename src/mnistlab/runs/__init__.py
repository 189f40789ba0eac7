"""Run folders: save, load, list."""

from mnistlab.runs.store import Run, list_runs, load_run, save_run

__all__ = ["Run", "list_runs", "load_run", "save_run"]
