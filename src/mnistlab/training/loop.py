"""The training loop: resident tensors, batches by index, metrics accumulated on the device."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from mnistlab.data.preprocess import Tensors
from mnistlab.training.allocator import keep_freed_memory
from mnistlab.training.augment import Augmentation
from mnistlab.training.early_stopping import EarlyStopping
from mnistlab.training.interrupt import StopFlag
from mnistlab.training.progress import Progress


def reduced_precision(device: torch.device, dtype: torch.dtype | None) -> torch.autocast:
    """Autocast to ``dtype`` on ``device``; a no-op context for None (plain fp32)."""
    return torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


def train_step(
    forward: Callable[[torch.Tensor], torch.Tensor], xb: torch.Tensor, yb: torch.Tensor,
    optimizer: torch.optim.Optimizer, autocast: torch.dtype | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on a batch (forward autocast to ``autocast`` if given); its loss and fp32 logits.

    Gradients are zeroed in place, not set to None, as parameters in one flat buffer need
    (training/flat.py)."""
    with reduced_precision(xb.device, autocast):
        logits = forward(xb).float()
    loss = F.cross_entropy(logits, yb)
    optimizer.zero_grad(set_to_none=False)
    loss.backward()
    optimizer.step()
    return loss, logits


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
class FitResult:
    """Per-epoch history rows and how training ended."""

    history: list[dict] = field(default_factory=list)
    status: str = "completed"  # completed | early_stopped | interrupted
    best_epoch: int | None = None
    restored_best: bool = False


def fit(
    network: torch.nn.Module,
    data: Tensors,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    batch_size: int,
    augmentation: Augmentation | None = None,
    image_shape: tuple[int, int] | None = None,
    early_stopping: EarlyStopping | None = None,
    progress: Progress | None = None,
    stop: StopFlag | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    autocast: torch.dtype | None = None,
) -> FitResult:
    """Train for ``epochs`` over shuffled batches of ``data.x_train``, validating after each epoch.

    Randomness (shuffling, dropout, augmentation) comes from torch's global generator, so
    seeding it beforehand makes a run repeatable on the same device. ``autocast`` (bf16)
    runs the forward passes, the per-epoch validation's included, in reduced precision;
    weights, gradients, optimizer state and the loss stay fp32.
    """
    progress = progress or Progress(quiet=True)
    keep_freed_memory()
    x, y = data.x_train, data.y_train
    n = len(x)
    steps = (n + batch_size - 1) // batch_size
    result = FitResult()
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        network.train()
        order = torch.randperm(n, device=x.device)
        loss_sum = torch.zeros((), device=x.device)
        correct = torch.zeros((), device=x.device, dtype=torch.long)
        seen = 0
        for step in range(steps):
            index = order[step * batch_size : (step + 1) * batch_size]
            xb, yb = x.index_select(0, index), y.index_select(0, index)  # 5x faster than x[index] on CPU
            if augmentation is not None:
                xb = augmentation(xb.view(len(xb), 1, *image_shape)).view(xb.shape)
            loss, logits = train_step(network, xb, yb, optimizer, autocast)
            if scheduler is not None:
                scheduler.step()
            loss_sum += loss.detach() * len(index)
            correct += (logits.detach().argmax(1) == yb).sum()
            seen += len(index)
            progress.batch(epoch, epochs, step + 1, steps, loss_sum, seen)
            if stop is not None and stop.requested:
                break
        row = {"epoch": epoch, "loss": loss_sum.item() / seen, "accuracy": correct.item() / seen}
        if data.x_val is not None:
            row["val_loss"], row["val_accuracy"] = evaluate_tensors(network, data.x_val, data.y_val, autocast=autocast)
        row["seconds"] = time.perf_counter() - start
        result.history.append(row)
        progress.epoch({**row, "epochs": epochs})
        if stop is not None and stop.requested:
            result.status = "interrupted"
            progress.message(f"Interrupted during epoch {epoch}; the run is kept.")
            break
        if early_stopping is not None and early_stopping.update(epoch, row, network):
            result.status = "early_stopped"
            progress.message(f"Early stopping: {early_stopping.monitor} has not improved since epoch {early_stopping.best_epoch}.")
            break
    if early_stopping is not None:
        result.best_epoch = early_stopping.best_epoch
        result.restored_best = early_stopping.restore(network)
        if result.restored_best:
            progress.message(f"Restored the weights of epoch {result.best_epoch} (best {early_stopping.monitor}).")
    return result
