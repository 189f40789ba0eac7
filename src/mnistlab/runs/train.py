"""``train``: a config in, a saved run folder out (data → model → fit → save), and nothing after that."""

from __future__ import annotations

import platform
import time
from importlib.metadata import version
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mnistlab.config import TrainConfig
from mnistlab.data.dataset import Dataset
from mnistlab.data.loaders import load_dataset
from mnistlab.data.preprocess import to_tensors
from mnistlab.device import autocast_dtype, resolve_device, seed_everything
from mnistlab.errors import MnistlabError
from mnistlab.models.data_init import initialize_from_data
from mnistlab.models.summary import count_params
from mnistlab.models.zoo import build_model
from mnistlab.runs.store import Run, load_run, new_run_dir, save_run
from mnistlab.speedups import prepare
from mnistlab.threads import FreeCores, fixed_threads, thread_budget, use_threads
from mnistlab.training.augment import Augmentation
from mnistlab.training.callbacks import Callback, FollowFreeCores
from mnistlab.training.distributed import barrier, join_from_environment, shared_object
from mnistlab.training.early_stopping import EarlyStopping
from mnistlab.training.interrupt import graceful_interrupt
from mnistlab.training.loop import Optimization, evaluate_tensors, fit
from mnistlab.training.outliers import outlier_exposure
from mnistlab.training.optimizers import make_optimizer, make_schedule
from mnistlab.training.progress import Progress, default_progress


def versions() -> dict:
    return {"mnistlab": version("mnistlab"), "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()}


def train(
    config: TrainConfig,
    data_dir: str | Path | None = None,
    out: str | Path | None = None,
    runs_dir: str | Path = "runs",
    progress: Progress | None = None,
    dataset: Dataset | None = None,
    callbacks: Sequence[Callback] = (),
    test: bool = True,
) -> Run:
    """Train ``config`` (resolved: every default filled in) and save the run folder, ``out`` or a new one under ``runs_dir``.

    ``progress`` displays the epochs (a quiet one shows nothing); ``callbacks`` watch the
    training too. Without ``test`` the test set is left unseen (a sweep's trials: only the
    configuration it picks is tested). The compute threads follow the thread budget
    (threads.py). Under torchrun every rank trains its slice of each batch and rank 0 writes
    the folder (training/distributed.py). Decision thresholds and the report come after, in
    ``workflow.train_and_report``.

    Examples
    --------
    >>> import tempfile
    >>> config = TrainConfig(dataset="digits", model="mlp-128-64-32", optimizer="adam", epochs=1)
    >>> run = train(config, runs_dir=tempfile.mkdtemp(), progress=Progress(quiet=True))
    >>> run.config.name, run.config.lr, run.metrics["epochs_run"]
    ('mlp-128-64-32', 0.001, 1)
    """
    config = config.resolved()
    device = resolve_device(config.device)
    group = join_from_environment(device.type == "cuda")
    main = group is None or group.main
    progress = (progress or default_progress()) if main else Progress(quiet=True)
    dataset = (dataset or load_dataset(config.dataset, data_dir, show_progress=True)).first(config.limit)
    threads = use_threads(thread_budget())
    follower = FollowFreeCores() if fixed_threads() is None else None
    seed_everything(config.seed)
    network = build_model(config.model, dataset.image_shape, dataset.num_classes).to(device)
    if not network.flat_input:  # measured: channels-last convolutions are faster on CPU (docs/benchmarks.md)
        network = network.to(memory_format=torch.channels_last)
    data = to_tensors(dataset, network.flat_input, config.validation, config.holdout_seed, device)
    stopper = None if config.early_stopping is None else EarlyStopping(**config.early_stopping)
    if stopper is not None and stopper.monitor.startswith("val_") and data.x_val is None:
        raise MnistlabError(f"early stopping monitors {stopper.monitor} but validation is 'none'; set validation")
    start = time.perf_counter()
    initialize_from_data(network, data.x_train)
    outliers = None if config.outliers is None else outlier_exposure(config.outliers, dataset.image_shape, network.flat_input, config.seed, device)
    setup_seconds = time.perf_counter() - start
    if not any(p.requires_grad for p in network.parameters()):
        raise MnistlabError("every layer of the model is frozen (trainable = false), so there is nothing to train; make at least one layer trainable")
    # Under DDP each parameter keeps its own gradient for DDP's buckets: no flat parameter buffer.
    prepared = prepare(network, config.speedups if group is None else {**config.speedups, "flat_parameters": False})
    optimizer = make_optimizer(config.optimizer, prepared.optimized, config.learning_rate, config.weight_decay)
    steps = (len(data.x_train) + config.batch_size - 1) // config.batch_size
    optimization = Optimization(
        optimizer, make_schedule(config.schedule, optimizer, config.epochs * steps),
        autocast_dtype(config.precision, device, convolutional=not network.flat_input),
        None if config.augment is None else Augmentation(**config.augment),
        outliers,
        config.label_smoothing,
    )
    start, others = time.perf_counter(), FreeCores()
    with graceful_interrupt() as stop:
        progress.message(
            f"Training {config.name}: {config.model if isinstance(config.model, str) else 'custom model'} "
            f"on {dataset.name} ({len(data.x_train)} images) with {config.optimizer}, {config.epochs} epochs, device {device}"
            + (f", {group.world} processes" if group else "")
        )
        watchers = [progress, stop, *([stopper] if stopper else []), *([follower] if follower else []), *callbacks]
        result = fit(network, data, optimization, config.epochs, config.batch_size, watchers, group)
    seconds = setup_seconds + time.perf_counter() - start
    others_busy = others.others_busy()
    if result.status == "interrupted":
        progress.message(f"Interrupted during epoch {len(result.history)}; the run is kept.")
    if result.status == "early_stopped":
        progress.message(f"Early stopping: {stopper.monitor} has not improved since epoch {stopper.best_epoch}.")
    if stopper is not None and stopper.restored:
        progress.message(f"Restored the weights of epoch {stopper.best_epoch} (best {stopper.monitor}).")
    prepared.release()
    train_loss, train_accuracy = evaluate_tensors(network, data.x_train, data.y_train)
    test_loss, test_accuracy = evaluate_tensors(network, data.x_test, data.y_test) if test else (None, None)
    held_out = isinstance(config.validation, float)
    val_loss, val_accuracy = evaluate_tensors(network, data.x_val, data.y_val) if held_out else (None, None)
    params = count_params(network)
    metrics = {
        "status": result.status,
        "train_loss": train_loss,
        "train_accuracy": train_accuracy,
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
        **({"val_loss": val_loss, "val_accuracy": val_accuracy} if held_out else {}),
        "epochs_run": len(result.history),
        "best_epoch": None if stopper is None else stopper.best_epoch,
        "restored_best_weights": stopper is not None and stopper.restored,
        "params": params.total,
        "trainable_params": params.trainable,
        "seconds": seconds,
        "setup_seconds": setup_seconds,
        "seconds_per_epoch": seconds / max(len(result.history), 1),
        "device": str(device),
        "threads": sorted(follower.used) if follower else [threads],  # every count it trained with
        "others_busy": round(others_busy, 2),  # cores other processes kept busy while it trained: its time's context
        "processes": group.world if group else 1,
        "dataset": {"name": dataset.name, "train": len(data.x_train), "test": len(data.x_test)},
        "versions": versions(),
    }
    chosen = (Path(out) if out is not None else new_run_dir(runs_dir, config.name)) if main else None
    path = shared_object(chosen, group)
    if main:
        save_run(path, config, network.cpu(), result.history, metrics, dataset.class_names)
    barrier(group)
    final = (f"Test accuracy: {test_accuracy:.4f} - test loss: {test_loss:.4f}" if test
             else f"Validation accuracy: {val_accuracy:.4f}" if held_out else "Not tested")
    progress.message(f"{final} - run saved to {path}")
    return load_run(path)
