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
class Optimization:
    """How each batch moves the network: the optimizer and, where set, its per-step schedule, the
    forward pass's autocast dtype (bf16; weights, gradients and the loss stay fp32) and the
    on-the-fly augmentation."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    autocast: torch.dtype | None = None
    augmentation: Augmentation | None = None


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
) -> FitResult:
    """Train for ``epochs`` over shuffled batches of ``data.x_train``, validating after each epoch.

    Randomness (shuffling, dropout, augmentation) comes from torch's global generator, so
    seeding it beforehand makes a run repeatable on the same device. ``callbacks`` watch each
    batch and epoch (training/callbacks.py), and any of them can stop training.
    """
    x, y = data.x_train, data.y_train
    n = len(x)
    steps = (n + batch_size - 1) // batch_size
    result = FitResult()
    augmentation, autocast = optimization.augmentation, optimization.autocast
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
                xb = augmentation(xb.view(len(xb), 1, *data.image_shape)).view(xb.shape)
            loss, logits = train_step(network, xb, yb, optimization.optimizer, autocast)
            if optimization.scheduler is not None:
                optimization.scheduler.step()
            loss_sum += loss.detach() * len(index)
            correct += (logits.detach().argmax(1) == yb).sum()
            seen += len(index)
            stops = [c.on_batch_end(epoch, epochs, step + 1, steps, loss_sum, seen) for c in callbacks]
            if any(stops):
                result.status = next(s for s in stops if s)
                break
        row = {"epoch": epoch, "loss": loss_sum.item() / seen, "accuracy": correct.item() / seen}
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
