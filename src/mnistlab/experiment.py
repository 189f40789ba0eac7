"""The whole workflow of a notebook as two calls: ``train`` a config into a run folder, ``evaluate`` a run."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np
import torch

from mnistlab import __version__
from mnistlab.config import TrainConfig
from mnistlab.data.dataset import Dataset
from mnistlab.data.loaders import load_dataset
from mnistlab.data.preprocess import prepare_images, to_tensors
from mnistlab.device import autocast_dtype, resolve_device, seed_everything
from mnistlab.errors import MnistlabError
from mnistlab.models.data_init import initialize_from_data
from mnistlab.models.summary import count_params
from mnistlab.models.zoo import build_model, input_shape_for
from mnistlab.predict.calibrate import calibrate_run
from mnistlab.predict.decision import save_rule
from mnistlab.runs.store import Run, load_run, new_run_dir, save_run
from mnistlab.training.augment import Augmentation
from mnistlab.training.early_stopping import EarlyStopping
from mnistlab.training.flat import flatten_parameters, unflatten_parameters
from mnistlab.training.interrupt import graceful_interrupt
from mnistlab.training.loop import evaluate_tensors, fit
from mnistlab.training.optimizers import make_optimizer, make_schedule
from mnistlab.training.progress import Progress
from mnistlab.viz.report import write_report


def sliced(dataset: Dataset, limit: int | None) -> Dataset:
    """The dataset with only its first ``limit`` training images (all of them for None)."""
    if limit is None or limit >= len(dataset.x_train):
        return dataset
    return Dataset(
        dataset.name, dataset.x_train[:limit], dataset.y_train[:limit], dataset.x_test, dataset.y_test,
        dataset.class_names, dataset.max_value, dataset.source,
    )


def versions() -> dict:
    return {"mnistlab": __version__, "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()}


def train(
    config: TrainConfig,
    data_dir: str | Path | None = None,
    out: str | Path | None = None,
    runs_dir: str | Path = "runs",
    progress: Progress | None = None,
    dataset: Dataset | None = None,
    report: bool = True,
) -> Run:
    """Train ``config`` and save the run folder (``out``, or a new folder under ``runs_dir``).

    With ``report`` (the default) the run's figures and ``report.html`` are written too.

    Examples
    --------
    >>> import tempfile
    >>> config = TrainConfig(dataset="digits", model="mlp-128-64-32", optimizer="adam", epochs=1)
    >>> run = train(config, runs_dir=tempfile.mkdtemp(), progress=Progress(quiet=True), report=False)
    >>> run.config.name, run.config.lr, run.metrics["epochs_run"]
    ('mlp-128-64-32', 0.001, 1)
    """
    progress = progress or Progress()
    config = config.resolved()
    device = resolve_device(config.device)
    dataset = sliced(dataset or load_dataset(config.dataset, data_dir, show_progress=True), config.limit)
    seed_everything(config.seed)
    network = build_model(config.model, dataset.image_shape, dataset.num_classes).to(device)
    if not network.flat_input:  # measured: channels-last convolutions are faster on CPU (docs/benchmarks.md)
        network = network.to(memory_format=torch.channels_last)
    data = to_tensors(dataset, network.flat_input, config.validation, config.seed, device)
    stopper = None if config.early_stopping is None else EarlyStopping(**config.early_stopping)
    if stopper is not None and stopper.monitor.startswith("val_") and data.x_val is None:
        raise MnistlabError(f"early stopping monitors {stopper.monitor} but validation is 'none'; set validation")
    start = time.perf_counter()
    initialize_from_data(network, data.x_train)
    setup_seconds = time.perf_counter() - start
    trainable = [p for p in network.parameters() if p.requires_grad]
    if not trainable:
        raise MnistlabError("every layer of the model is frozen (trainable = false), so there is nothing to train; make at least one layer trainable")
    optimizer = make_optimizer(config.optimizer, [flatten_parameters(trainable)], config.lr)
    steps = (len(data.x_train) + config.batch_size - 1) // config.batch_size
    scheduler = make_schedule(config.schedule, optimizer, config.epochs * steps)
    start = time.perf_counter()
    with graceful_interrupt() as stop:
        progress.message(
            f"Training {config.name}: {config.model if isinstance(config.model, str) else 'custom model'} "
            f"on {dataset.name} ({len(data.x_train)} images) with {config.optimizer}, {config.epochs} epochs, device {device}"
        )
        result = fit(
            network, data, optimizer, config.epochs, config.batch_size,
            augmentation=None if config.augment is None else Augmentation(**config.augment), image_shape=dataset.image_shape,
            early_stopping=stopper, progress=progress, stop=stop, scheduler=scheduler,
            autocast=autocast_dtype(config.precision, device, convolutional=not network.flat_input),
        )
    seconds = setup_seconds + time.perf_counter() - start
    unflatten_parameters(trainable)
    train_loss, train_accuracy = evaluate_tensors(network, data.x_train, data.y_train)
    test_loss, test_accuracy = evaluate_tensors(network, data.x_test, data.y_test)
    params = count_params(network)
    metrics = {
        "status": result.status,
        "train_loss": train_loss,
        "train_accuracy": train_accuracy,
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "restored_best_weights": result.restored_best,
        "params": params.total,
        "trainable_params": params.trainable,
        "seconds": seconds,
        "setup_seconds": setup_seconds,
        "seconds_per_epoch": seconds / max(len(result.history), 1),
        "device": str(device),
        "dataset": {"name": dataset.name, "train": len(data.x_train), "test": len(data.x_test)},
        "versions": versions(),
    }
    path = Path(out) if out is not None else new_run_dir(runs_dir, config.name)
    save_run(path, config, network.cpu(), result.history, metrics, dataset.class_names)
    split = isinstance(config.validation, float)  # validation "test" is the test set: never chosen on
    save_rule(path, calibrate_run(network, data.x_train, data.y_train, data.x_val if split else None, data.y_val if split else None, config.seed))
    run = load_run(path)
    if report:
        write_report(run, dataset, progress.message)
    progress.message(f"Test accuracy: {test_accuracy:.4f} - test loss: {test_loss:.4f} - run saved to {path}")
    return run


def evaluate(run: Run | str | Path, data_dir: str | Path | None = None, dataset: Dataset | None = None, device: str = "auto") -> dict:
    """Reload a run's test set and compute its loss and accuracy: ``{"test_loss", "test_accuracy", "test"}``."""
    run = run if isinstance(run, Run) else load_run(run)
    dataset = dataset or load_dataset(run.config.dataset, data_dir)
    expected = input_shape_for(run.network.specs, dataset.image_shape)
    if expected != run.network.input_shape or dataset.num_classes != run.network.num_classes:
        raise MnistlabError(
            f"{dataset.name} ({dataset.image_shape[0]}x{dataset.image_shape[1]}, {dataset.num_classes} classes) does not fit "
            f"the run's model (input {run.network.input_shape}, {run.network.num_classes} classes); evaluate on its own dataset"
        )
    target = resolve_device(device)
    network = run.network.to(target)
    x = prepare_images(dataset.x_test, dataset.max_value, network.flat_input, target)
    y = torch.from_numpy(dataset.y_test).to(target)
    loss, accuracy = evaluate_tensors(network, x, y)
    return {"test_loss": loss, "test_accuracy": accuracy, "test": len(y)}
