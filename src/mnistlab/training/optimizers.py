"""The notebooks' optimizers by name, with Keras's defaults."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from mnistlab.errors import MnistlabError

# name -> (class, Keras defaults). Keras: sgd lr 0.01; rmsprop lr 1e-3, rho 0.9, eps 1e-7;
# adam lr 1e-3, betas 0.9/0.999, eps 1e-7 (torch's own defaults differ: rmsprop alpha 0.99, eps 1e-8).
OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], dict]] = {
    "sgd": (torch.optim.SGD, {"lr": 0.01}),
    "rmsprop": (torch.optim.RMSprop, {"lr": 0.001, "alpha": 0.9, "eps": 1e-7}),
    "adam": (torch.optim.Adam, {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-7}),
}


def _lookup(name: str) -> tuple[type[torch.optim.Optimizer], dict]:
    try:
        return OPTIMIZERS[name]
    except KeyError:
        raise MnistlabError(f"unknown optimizer '{name}'; choose one of {', '.join(OPTIMIZERS)}") from None


def make_optimizer(name: str, params: Iterable[torch.nn.Parameter], lr: float | None = None) -> torch.optim.Optimizer:
    """An optimizer with Keras defaults; ``lr`` overrides the default learning rate."""
    cls, defaults = _lookup(name)
    if lr is not None and not lr > 0:
        raise MnistlabError(f"the learning rate must be positive, got {lr}")
    return cls(params, **{**defaults, **({"lr": lr} if lr is not None else {})})


def make_schedule(name: str, optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """None for a constant learning rate; for "onecycle", a per-step one-cycle schedule peaking at the optimizer's lr."""
    if name == "constant":
        return None
    peak = optimizer.param_groups[0]["lr"]
    cycles_momentum = not isinstance(optimizer, torch.optim.RMSprop)  # SGD's momentum, Adam's beta1; RMSprop stays momentum-free
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=peak, total_steps=max(total_steps, 1), pct_start=0.25, cycle_momentum=cycles_momentum
    )
