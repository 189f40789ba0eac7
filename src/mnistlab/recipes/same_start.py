"""``same-start``: a recipe trained by mnistlab and by its notebook's Keras code from the same
initial weights on the same batches, compared step by step.

Seeds alone only say whether two trainings agree on average. Two implementations of the same
arithmetic, given the same start and the same batches, follow the same path until float
rounding, amplified step after step, pulls them apart; a difference in what they compute
(a loss, an optimizer's update rule, an initializer's bounds) shows at once, in the first steps.
So the first step where the running losses part is the measure: where they agree for hundreds of
steps, a difference left between the two sides' seeds is not in the arithmetic of a step.

Only recipes whose steps are deterministic can be compared so: dense networks without dropout
or augmentation (the random masks and transforms of the two sides cannot be made the same).
Early stopping is left out: both sides run the given number of epochs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from mnistlab.atomic import write_json
from mnistlab.data.dataset import Dataset
from mnistlab.data.loaders import load_dataset
from mnistlab.data.preprocess import to_tensors
from mnistlab.errors import MnistlabError
from mnistlab.models.zoo import build_model
from mnistlab.recipes import Recipe, trainable
from mnistlab.recipes.reproduce import KerasSide, keras_data
from mnistlab.training.loop import evaluate_tensors, train_step
from mnistlab.training.optimizers import make_optimizer

AGREEMENT = 1e-4  # relative difference of two running losses still counted as the same step


@dataclass(frozen=True)
class SameStart:
    """Both sides' running loss after every step, where they part, and their test figures after the last epoch."""

    recipe: str
    seed: int
    epochs: int
    steps_per_epoch: int
    ours: list[float]
    keras: list[float]
    test_ours: tuple[float, float]  # (loss, accuracy)
    test_keras: tuple[float, float]

    @property
    def relative_gaps(self) -> np.ndarray:
        ours, keras = np.asarray(self.ours), np.asarray(self.keras)
        return np.abs(ours - keras) / np.abs(keras)

    def summary(self) -> dict:
        """The comparison in a few numbers, as the reproduction's JSON keeps it."""
        gaps = self.relative_gaps
        return {
            "recipe": self.recipe, "seed": self.seed, "epochs": self.epochs, "steps": len(self.ours),
            "steps_agreeing": self.steps_agreeing, "largest_gap_first_100": float(gaps[:100].max()),
            "train_loss": {"mnistlab": self.epoch_losses(self.ours), "keras": self.epoch_losses(self.keras)},
            "test_accuracy": {"mnistlab": self.test_ours[1], "keras": self.test_keras[1]},
        }

    @property
    def steps_agreeing(self) -> int:
        """How many steps, from the first, keep the two running losses within ``AGREEMENT`` of each other."""
        parted = np.flatnonzero(self.relative_gaps > AGREEMENT)
        return int(parted[0]) if len(parted) else len(self.ours)

    def epoch_losses(self, side: list[float]) -> list[float]:
        """Each epoch's running loss at its last step (the epoch's mean, as Keras's history holds it)."""
        return [side[(epoch + 1) * self.steps_per_epoch - 1] for epoch in range(self.epochs)]


def comparable(recipe: Recipe) -> None:
    """Raise unless ``recipe``'s steps are deterministic given its weights and batches (dense layers only, no augmentation or outliers)."""
    config = trainable(recipe).resolved()
    kinds = sorted({layer["type"] for layer in build_model(config.model).specs} - {"dense", "activation"})
    why = (f"it has {', '.join(kinds)} layers" if kinds else "it augments its images" if config.augment is not None
           else "it shows scribbles for outlier exposure" if config.outliers is not None
           else "its learning rate follows a schedule" if config.schedule != "constant" else None)
    if why:
        raise MnistlabError(f"{recipe.name} cannot start the same on both sides: {why}, whose randomness or layout the two "
                            "frameworks do not share; same-start compares recipes of dense layers only, such as 004-fashion-mlp")


def same_start(
    recipe: Recipe, epochs: int, seed: int, keras: KerasSide, folder: Path, data_dir: str | Path | None = None,
    dataset: Dataset | None = None,
) -> SameStart:
    """Train ``recipe`` for ``epochs`` on both sides from Keras's initial weights, on batch orders drawn from ``seed``."""
    comparable(recipe)
    if epochs < 1:
        raise MnistlabError(f"--epochs must be a positive integer, got {epochs}")
    config = recipe.config.resolved()
    dataset = dataset or load_dataset(config.dataset, data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    orders = np.stack([rng.permutation(len(dataset.x_train)) for _ in range(epochs)])
    np.save(folder / "orders.npy", orders)
    theirs = keras.train(recipe.name, seed, keras_data(dataset, folder), None, same_start=folder)

    network = build_model(config.model, dataset.image_shape, dataset.num_classes)
    load_keras_weights(network, folder / "initial.npz")
    data = to_tensors(dataset, flat=True, validation="none")
    optimizer = make_optimizer(config.optimizer, network.parameters(), config.learning_rate, config.weight_decay)
    network.train()
    ours: list[float] = []
    for order in torch.from_numpy(orders):
        loss_sum, seen = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            index = order[start : start + config.batch_size]
            summed, _ = train_step(network, data.x_train[index], data.y_train[index], optimizer, None)
            loss_sum, seen = loss_sum + summed.item(), seen + len(index)
            ours.append(loss_sum / seen)
    keras_losses = np.load(folder / "losses.npy").tolist()
    if len(keras_losses) != len(ours):
        raise MnistlabError(f"the Keras side recorded {len(keras_losses)} steps where mnistlab took {len(ours)}; "
                            f"check that {recipe.name}'s batch size is the notebook's")
    result = SameStart(
        recipe.name, seed, epochs, len(ours) // epochs, ours, keras_losses,
        evaluate_tensors(network, data.x_test, data.y_test), (theirs["test_loss"], theirs["test_accuracy"]),
    )
    write_json(folder / "same-start.json", {**asdict(result), "steps_agreeing": result.steps_agreeing, "agreement": AGREEMENT})
    return result


def load_keras_weights(network: torch.nn.Module, path: Path) -> None:
    """Copy a Keras model's weights (kernel, bias per Dense layer, in order) into ``network``'s dense layers."""
    with np.load(path) as saved:
        arrays = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    dense = [m for m in network.modules() if isinstance(m, torch.nn.Linear)]
    if len(arrays) != 2 * len(dense):
        raise MnistlabError(f"the Keras model has {len(arrays) // 2} dense layers and mnistlab's {len(dense)}: they are not the same network")
    with torch.no_grad():
        for layer, kernel, bias in zip(dense, arrays[::2], arrays[1::2]):
            if tuple(kernel.T.shape) != tuple(layer.weight.shape):
                raise MnistlabError(f"a Keras kernel of shape {kernel.shape} does not fit mnistlab's layer of {tuple(layer.weight.shape[::-1])}")
            layer.weight.copy_(torch.from_numpy(kernel.T))
            layer.bias.copy_(torch.from_numpy(bias))
