"""Sweeps: many trainings of one recipe over a search space, on Optuna, from one process to many machines.

``run_sweep`` starts (or resumes) a study and runs it with K local workers; ``mnistlab sweep worker``
joins it from anywhere the storage reaches; ``sweeps.report`` writes its table, page and best recipe.
Each trial is an ordinary run folder, ``SWEEPS_DIR/NAME/trials/NNNN``, trained on the training
set minus a held-out validation split that the objective is measured on; the test set is
evaluated once, for the configuration the sweep picks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mnistlab.errors import MnistlabError
from mnistlab.models.zoo import build_model
from mnistlab.recipes import load_recipe
from mnistlab.sweeps.report import SweepReport, report
from mnistlab.sweeps.space import SearchSpace, parse_space
from mnistlab.sweeps.study import create_or_resume, open_storage, settle, work
from mnistlab.threads import THREADS_VARIABLE, share


def space_of(recipe_name: str) -> tuple[str, SearchSpace]:
    """A recipe's canonical name and its checked search space; every grid point (or range end) must make a trainable config."""
    recipe = load_recipe(recipe_name)
    where = f"recipe {recipe.name}"
    if recipe.sweep is None:
        raise MnistlabError(f"{where} has no [sweep] table; add one (see `mnistlab sweep --help`) or choose a sweep recipe (`mnistlab recipes`)")
    space = parse_space(recipe.sweep, recipe.settings, where)
    corners = space.grid() if space.is_grid else [
        {n: s[0] if isinstance(s, tuple) else getattr(s, end) for n, s in space.params.items()} for end in ("low", "high")
    ]
    for values in corners:
        config = space.config(values, name=recipe.name)
        build_model(config.model)  # an unknown model name or bad layer fails here, before any worker starts
    return recipe.name, space


def worker_command(study: str, storage: str, sweeps_dir: Path, data_dir: str | Path | None, heartbeat: int, timeout: float | None) -> list[str]:
    command = [sys.executable, "-m", "mnistlab", "sweep", "worker", "--study", study, "--storage", storage,
               "--sweeps-dir", str(sweeps_dir), "--heartbeat", str(heartbeat)]
    command += ["--data-dir", str(data_dir)] if data_dir else []
    return command + (["--timeout", str(timeout)] if timeout else [])


def run_sweep(
    recipe: str | None = None, study: str | None = None, trials: int | None = None, workers: int = 1,
    timeout: float | None = None, storage: str | None = None, sweeps_dir: str | Path = "sweeps",
    heartbeat: int = 10, data_dir: str | Path | None = None, say=print,
) -> SweepReport:
    """Start the sweep of ``recipe`` (or resume ``study``), run it with ``workers`` processes here, and report it."""
    if recipe is None and study is None:
        raise MnistlabError("give a recipe with a [sweep] table, or --study NAME to resume a sweep")
    if workers < 1:
        raise MnistlabError(f"--workers must be a positive integer, got {workers}")
    if trials is not None and trials < 1:
        raise MnistlabError(f"--trials must be a positive integer, got {trials}")
    recipe_name, space = space_of(recipe) if recipe else ("", None)
    name = study or recipe_name
    sweeps_dir = Path(sweeps_dir)
    folder = sweeps_dir / name
    backend = open_storage(storage, folder, heartbeat)
    handle = create_or_resume(name, backend, space, recipe_name, trials)
    target = handle.user_attrs["mnistlab"]["trials"]
    where = storage or str(folder / "journal.log")
    say(f"Sweep {name}: {target} trials, {workers} worker(s) on {os.cpu_count()} cores, study in {where}")
    if workers == 1:
        work(name, backend, sweeps_dir, data_dir, timeout, say)
    else:
        command = worker_command(name, where, sweeps_dir, data_dir, heartbeat, timeout)
        env = {**os.environ, THREADS_VARIABLE: os.environ.get(THREADS_VARIABLE) or str(share(workers))}
        processes = [subprocess.Popen(command, env=env) for _ in range(workers)]
        codes = [p.wait() for p in processes]
        for number, code in enumerate(codes):
            if code < 0:
                say(f"worker {number} was killed (signal {-code}); its trial is failed after its heartbeat stops and run again")
            elif code != 0:
                raise MnistlabError(f"sweep worker {number} stopped with exit code {code} (its error is printed above)")
    settle(handle)
    done = report(handle, folder, data_dir)
    say(done.summary)
    say(f"Report: {done.page}" + (f"; best recipe: {done.recipe}" if done.recipe else ""))
    return done
