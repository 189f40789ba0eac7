"""Sweeps on Optuna: where a study lives, how one is created or resumed, and the worker that runs its trials.

Storage fits the scale. On one machine a study is a journal file, ``SWEEPS_DIR/NAME/journal.log``
(Optuna's JournalStorage: safe for several processes, no server; Optuna advises against SQLite
for parallel work). Across machines it is a database, ``--storage postgresql://user@host/db``,
that every worker reaches. The study itself holds what a worker needs (the search space, the
settings, the number of trials to finish), so ``mnistlab sweep worker --storage URL --study NAME``
joins from any machine with nothing but the URL.

A running trial beats a heartbeat into the storage; a trial silent for three heartbeats (its
worker killed, its machine gone) is failed by the next worker that starts a trial and queued
again with the same parameters, so the study still finishes the trials it was asked for.
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat  # Optuna's heartbeat protocol, which only its RDBStorage implements
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from mnistlab.data.dataset import Dataset
from mnistlab.data.loaders import load_dataset
from mnistlab.errors import MnistlabError
from mnistlab.runs.train import train
from mnistlab.sweeps.space import SearchSpace
from mnistlab.training.callbacks import Callback
from mnistlab.training.progress import Progress

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
SPEC_KEY = "mnistlab"  # the study's user attribute holding the sweep's space and target
RETRIES = 3  # a trial whose worker died is run again at most this many times


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """Optuna's journal-file storage with the heartbeat its RDBStorage has: a running trial records the
    time every ``interval`` seconds, and one silent for ``grace`` seconds is stale."""

    def __init__(self, path: Path, interval: int, grace: int) -> None:
        super().__init__(JournalFileBackend(str(path)))
        self.interval, self.grace = interval, grace
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.retry = RetryHeartbeatStaleTrialCallback(max_retry=RETRIES)

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, "heartbeat", time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return [t._trial_id for t in running if now - t.system_attrs.get("heartbeat", t.datetime_start.timestamp()) > self.grace]

    def get_heartbeat_interval(self) -> int:
        return self.interval

    def get_heartbeat_stale_trial_callback(self) -> RetryHeartbeatStaleTrialCallback:
        return self.retry


def open_storage(storage: str | None, folder: Path, heartbeat: int) -> BaseStorage:
    """The study's storage: ``folder/journal.log`` by default, a journal file path, or a database URL."""
    if heartbeat < 1:
        raise MnistlabError(f"--heartbeat must be a positive number of seconds, got {heartbeat}")
    if storage is None or "://" not in storage:
        path = Path(storage) if storage else folder / "journal.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return HeartbeatJournalStorage(path, heartbeat, 3 * heartbeat)
    url = storage.replace("postgresql://", "postgresql+psycopg://", 1) if storage.startswith("postgresql://") else storage
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(
                url, engine_kwargs={"pool_pre_ping": True, "connect_args": _connect_timeout(url)},
                heartbeat_interval=heartbeat, grace_period=3 * heartbeat,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=RETRIES),
            )
    except ImportError as exc:
        raise MnistlabError(f"--storage {storage}: its database driver is not installed ({exc})") from None
    except Exception as exc:  # SQLAlchemy's errors: unreachable server, bad credentials, unknown database
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MnistlabError(f"cannot open the sweep storage {storage}: {first}; check that the database is up and the URL is right") from None


def _connect_timeout(url: str) -> dict[str, Any]:
    return {"connect_timeout": 10} if url.startswith("postgresql") else {}


def finished_trials(study: optuna.Study) -> int:
    """Trials that ran to their end: completed or pruned (failed ones are retried, not counted)."""
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def sampler_for(space: SearchSpace) -> optuna.samplers.BaseSampler:
    """A grid when every parameter is a choice, else TPE."""
    if space.is_grid:
        return optuna.samplers.GridSampler({name: list(spec) for name, spec in space.params.items()})
    return optuna.samplers.TPESampler()


def pruner_for(space: SearchSpace) -> optuna.pruners.BasePruner:
    """Median pruning on per-epoch validation accuracy, once 3 trials have finished and from the 2nd epoch on."""
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2) if space.prune else optuna.pruners.NopPruner()


def create_or_resume(name: str, storage: BaseStorage, space: SearchSpace | None, recipe: str, trials: int | None) -> optuna.Study:
    """The study ``name``: created from ``space``, or resumed (its stored space must match a given one)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed trial is reported by the worker in one line
    existing = name in {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    if not existing and space is None:
        raise MnistlabError(f"there is no sweep '{name}' in this storage; start one with `mnistlab sweep RECIPE --study {name}`")
    stored = optuna.load_study(study_name=name, storage=storage).user_attrs.get(SPEC_KEY) if existing else None
    if existing and stored is None:
        raise MnistlabError(f"study '{name}' was not made by mnistlab sweep; choose another --study name")
    if stored is not None and space is not None and stored["space"] != space.to_dict():
        raise MnistlabError(f"sweep '{name}' exists with another search space or settings; resume it without a recipe, or give a new --study name")
    spec = stored or {"space": space.to_dict(), "recipe": recipe}
    space = SearchSpace.from_dict(spec["space"])
    spec["trials"] = trials or spec.get("trials") or space.trial_count
    if space.is_grid and spec["trials"] > len(space.grid()):
        raise MnistlabError(f"the sweep is a grid of {len(space.grid())} points, so it has at most {len(space.grid())} trials; ask for no more")
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True,
                                sampler=sampler_for(space), pruner=pruner_for(space))
    if not existing and space.is_grid:  # queued once: each worker takes the next point, none runs twice
        for values in space.grid():
            study.enqueue_trial(values)
    study.set_user_attr(SPEC_KEY, spec)
    return study


def load_sweep(name: str, storage: BaseStorage) -> tuple[optuna.Study, SearchSpace, dict]:
    """An existing sweep's study, with its space and spec; one line when there is none."""
    study = create_or_resume(name, storage, None, "", None)
    spec = study.user_attrs[SPEC_KEY]
    return study, SearchSpace.from_dict(spec["space"]), spec


def shown(value: Any) -> str:
    """A parameter's value as tables show it: floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def describe(values: dict[str, Any]) -> str:
    """``lr=0.002456, width=32``: a trial's parameters."""
    return ", ".join(f"{k}={shown(v)}" for k, v in values.items())


class ReportToTrial(Callback):
    """Reports each epoch's validation accuracy to the trial, and stops a trial the pruner calls poor."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial

    def on_epoch_end(self, row: dict, network: Any) -> str | None:
        self.trial.report(row["val_accuracy"], row["epoch"])
        return "pruned" if self.trial.should_prune() else None


def work(
    name: str, storage: BaseStorage, sweeps_dir: Path, data_dir: str | Path | None = None,
    timeout: float | None = None, say: Any = print,
) -> int:
    """Run the sweep's trials in this process until it has finished the trials asked for (or ``timeout``); how many ran here."""
    study, space, spec = load_sweep(name, storage)
    study.sampler, study.pruner = sampler_for(space), pruner_for(space)
    target = spec["trials"]
    datasets: dict[str, Dataset] = {}
    ran = 0

    def objective(trial: optuna.Trial) -> float:
        nonlocal ran
        values = space.suggest(trial)
        config = space.config(values, name=f"{name}-trial-{trial.number:04d}")
        folder = sweeps_dir / name / "trials" / f"{trial.number:04d}"
        trial.set_user_attr("run", str(folder.resolve()))
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        if config.dataset not in datasets:
            datasets[config.dataset] = load_dataset(config.dataset, data_dir)
        run = train(config, out=folder, progress=Progress(quiet=True), dataset=datasets[config.dataset],
                    callbacks=[ReportToTrial(trial)], test=False)
        ran += 1
        m = run.metrics
        if m["status"] == "interrupted":  # Ctrl-C: the trial fails and the sweep stops (resume it by name)
            raise KeyboardInterrupt
        trial.set_user_attr("seconds", m["seconds"])
        trial.set_user_attr("epochs_run", m["epochs_run"])
        trial.set_user_attr("train_accuracy", m["train_accuracy"])
        shown = describe(values)
        if m["status"] == "pruned":
            say(f"trial {trial.number} ({shown}): pruned after epoch {m['epochs_run']}, {m['seconds']:.1f} s")
            raise optuna.TrialPruned()
        say(f"trial {trial.number} ({shown}): validation accuracy {m['val_accuracy']:.4f}, {m['seconds']:.1f} s")
        return m["val_accuracy"]

    def done(study: optuna.Study) -> bool:
        """Finished enough trials, or, for a grid, no point left in the queue."""
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        return finished_trials(study) >= target or (space.is_grid and not waiting)

    if not done(study):
        study.optimize(objective, timeout=timeout, callbacks=[lambda study, trial: done(study) and study.stop()])
    settle(study)
    return ran


def settle(study: optuna.Study) -> None:
    """Before leaving a study: fail (and queue again) the trials already stale, and those left running by
    this machine's dead workers once their heartbeat is stale, so that no trial stays running forever;
    once the study has its trials, fail the retries still queued, as no worker will run them."""
    storage = study._storage
    grace = 3 * storage.get_heartbeat_interval() if isinstance(storage, BaseHeartbeat) else 0
    host = socket.gethostname()
    orphans = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
               if t.user_attrs.get("host") == host and not _alive(t.user_attrs.get("pid"))]
    if orphans:
        time.sleep(grace + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    if finished_trials(study) >= study.user_attrs[SPEC_KEY]["trials"]:  # retries queued too late for anyone to run
        for queued in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            storage.set_trial_state_values(queued._trial_id, TrialState.FAIL)


def _alive(pid: int | None) -> bool:
    """Whether process ``pid`` runs on this machine."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
