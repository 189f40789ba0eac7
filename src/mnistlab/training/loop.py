"""The training loop: resident tensors, batches by index, metrics accumulated on the device."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from mnistlab.data.preprocess import Tensors
from mnistlab.training.augment import Augmentation
from mnistlab.training.callbacks import Callback
from mnistlab.training.distributed import Group, my_share, same_order, summed, wrap
from mnistlab.training.outliers import OutlierExposure, uniform_cross_entropy


def reduced_precision(device: torch.device, dtype: torch.dtype | None) -> torch.autocast:
    """Autocast to ``dtype`` on ``device``; a no-op context for None (plain fp32)."""
    return torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


def train_step(
    forward: Callable[[torch.Tensor], torch.Tensor], xb: torch.Tensor, yb: torch.Tensor,
    optimizer: torch.optim.Optimizer, autocast: torch.dtype | None, weight: float | None = None,
    outliers: OutlierExposure | None = None, label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on a batch (forward autocast to ``autocast`` if given); the batch's summed loss and fp32 logits.

    The step minimizes the batch's mean loss, or with ``weight`` (a rank's share of a global
    batch: training/distributed.py) its summed loss times ``weight``. With ``outliers``, the
    rows of ``xb`` after the ``len(yb)`` labelled ones are scribbles, and their uniform-target
    loss is added (training/outliers.py); the returned loss and logits are the labelled rows'.
    ``label_smoothing`` s trains towards 1 - s on each label plus s / classes on every class.
    Gradients are zeroed in place, not set to None, as parameters in one flat buffer need (training/flat.py)."""
    with reduced_precision(xb.device, autocast):
        everything = forward(xb).float()
    logits = everything[: len(yb)]
    if weight is None:
        loss = F.cross_entropy(logits, yb, label_smoothing=label_smoothing)
        summed = loss.detach() * len(yb)
    else:
        summed = F.cross_entropy(logits, yb, reduction="sum", label_smoothing=label_smoothing)
        loss, summed = summed * weight, summed.detach()
    if outliers is not None:  # their mean, or under torchrun this rank's part of the global mean
        unsure = uniform_cross_entropy(everything[len(yb) :])
        loss = loss + outliers.weight * (unsure.mean() if weight is None else unsure.sum() * weight / outliers.share)
    optimizer.zero_grad(set_to_none=False)
    loss.backward()
    optimizer.step()
    return summed, logits


@torch.inference_mode()
def evaluate_tensors(
    network: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512, autocast: torch.dtype | None = None
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) in eval mode, in batches of 512 (measured: faster on CPU than
    larger ones, whose activations fall out of cache), the forward pass autocast to ``autocast`` if given."""
    was_training = network.training
    network.eval()
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    for i in range(0, len(x), batch_size):
        with reduced_precision(x.device, autocast):
            logits = network(x[i : i + batch_size]).float()
        target = y[i : i + batch_size]
        loss_sum += F.cross_entropy(logits, target, reduction="sum")
        correct += (logits.argmax(1) == target).sum()
    network.train(was_training)
    return loss_sum.item() / len(x), correct.item() / len(x)


@dataclass
class Optimization:
    """How each batch moves the network: the optimizer and, where set, its per-step schedule, the
    forward pass's autocast dtype (bf16; weights, gradients and the loss stay fp32) and the
    on-the-fly augmentation, the scribbles of outlier exposure, and the label smoothing of the targets."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    autocast: torch.dtype | None = None
    augmentation: Augmentation | None = None
    outliers: OutlierExposure | None = None
    label_smoothing: float = 0.0


@dataclass
class FitResult:
    """Per-epoch history rows and how training ended: completed, or the reason a callback gave."""

    history: list[dict] = field(default_factory=list)
    status: str = "completed"  # completed | early_stopped | interrupted


def fit(
    network: torch.nn.Module,
    data: Tensors,
    optimization: Optimization,
    epochs: int,
    batch_size: int,
    callbacks: Sequence[Callback] = (),
    group: Group | None = None,
) -> FitResult:
    """Train for ``epochs`` over shuffled batches of ``data.x_train``, validating after each epoch.

    Randomness (shuffling, dropout, augmentation) comes from torch's global generator, so
    seeding it beforehand makes a run repeatable on the same device. ``callbacks`` watch each
    batch and epoch (training/callbacks.py), and any of them can stop training. With a
    ``group`` (under torchrun) each rank takes its slice of every batch (training/distributed.py).
    """
    x, y = data.x_train, data.y_train
    n = len(x)
    steps = (n + batch_size - 1) // batch_size
    result = FitResult()
    augmentation, autocast = optimization.augmentation, optimization.autocast
    forward = wrap(network, group)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        network.train()
        order = same_order(torch.randperm(n, device=x.device), group)
        loss_sum = torch.zeros((), device=x.device)
        correct = torch.zeros((), device=x.device, dtype=torch.long)
        seen = 0
        for step in range(steps):
            index, weight = my_share(order[step * batch_size : (step + 1) * batch_size], group)
            xb, yb = x.index_select(0, index), y.index_select(0, index)  # 5x faster than x[index] on CPU
            if optimization.outliers is not None:
                xb = torch.cat([xb, optimization.outliers.batch(len(xb))])
            if augmentation is not None:
                xb = augmentation(xb.view(len(xb), 1, *data.image_shape)).view(xb.shape)
            summed_loss, logits = train_step(
                forward, xb, yb, optimization.optimizer, autocast, weight, optimization.outliers, optimization.label_smoothing
            )
            if optimization.scheduler is not None:
                optimization.scheduler.step()
            loss_sum += summed_loss
            correct += (logits.detach().argmax(1) == yb).sum()
            seen += len(index)
            stops = [c.on_batch_end(epoch, epochs, step + 1, steps, loss_sum, seen) for c in callbacks]
            if any(stops):
                result.status = next(s for s in stops if s)
                break
        loss_sum, correct, images = summed([loss_sum, correct, torch.tensor(seen, device=x.device)], group)
        row = {"epoch": epoch, "loss": loss_sum.item() / images.item(), "accuracy": correct.item() / images.item()}
        if data.x_val is not None:
            row["val_loss"], row["val_accuracy"] = evaluate_tensors(network, data.x_val, data.y_val, autocast=autocast)
        row["seconds"] = time.perf_counter() - start
        result.history.append(row)
        stops = [c.on_epoch_end({**row, "epochs": epochs}, network) for c in callbacks]
        if result.status == "completed" and any(stops):
            result.status = next(s for s in stops if s)
        if result.status != "completed":
            break
    for callback in callbacks:
        callback.on_train_end(network)
    return result
