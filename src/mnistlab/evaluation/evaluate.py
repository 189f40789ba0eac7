"""``evaluate``: a saved run's loss and accuracy on its dataset's test set."""

from __future__ import annotations

from pathlib import Path

import torch

from mnistlab.data.dataset import Dataset
from mnistlab.data.loaders import load_dataset
from mnistlab.data.preprocess import prepare_images
from mnistlab.device import resolve_device
from mnistlab.errors import MnistlabError
from mnistlab.models.ensemble import tta_network
from mnistlab.models.zoo import input_shape_for
from mnistlab.runs.store import Run, load_run
from mnistlab.training.loop import evaluate_tensors


def evaluate(run: Run | str | Path, data_dir: str | Path | None = None, dataset: Dataset | None = None, device: str = "auto",
             tta: bool = False) -> dict:
    """Reload a run's test set and compute its loss and accuracy: ``{"test_loss", "test_accuracy", "test"}``;
    with ``tta``, of the mean probabilities over each image and its one-pixel shifts, mirrored too for a run trained
    with mirrored images (models/ensemble.py)."""
    run = run if isinstance(run, Run) else load_run(run)
    dataset = dataset or load_dataset(run.config.dataset, data_dir)
    expected = input_shape_for(run.network.specs, dataset.image_shape)
    if expected != run.network.input_shape or dataset.num_classes != run.network.num_classes:
        raise MnistlabError(
            f"{dataset.name} ({dataset.image_shape[0]}x{dataset.image_shape[1]}, {dataset.num_classes} classes) does not fit "
            f"the run's model (input {run.network.input_shape}, {run.network.num_classes} classes); evaluate on its own dataset"
        )
    target = resolve_device(device)
    network = (tta_network(run.network, mirror=run.config.mirrored) if tta else run.network).to(target)
    x = prepare_images(dataset.x_test, dataset.max_value, network.flat_input, target)
    y = torch.from_numpy(dataset.y_test).to(target)
    loss, accuracy = evaluate_tensors(network, x, y)
    return {"test_loss": loss, "test_accuracy": accuracy, "test": len(y)}
