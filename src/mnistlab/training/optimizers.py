"""The notebooks' optimizers by name, computing their updates as Keras 3 does.

torch's RMSprop and Adam differ from Keras's in where epsilon enters, which matters once a
weight's squared-gradient average is small (dead units, rarely used inputs):

- RMSprop: Keras divides by ``sqrt(v + eps)``, torch by ``sqrt(v) + eps``; with eps = 1e-7 the
  Keras floor is ``sqrt(1e-7)`` ~ 3.2e-4, three thousand times torch's.
- Adam: Keras folds the bias corrections into the step size and adds eps to the uncorrected
  ``sqrt(v)``; torch adds eps to the corrected one.

So ``rmsprop`` and ``adam`` here are small optimizers written from Keras's update rules, and
``sgd`` is torch's, which is the same arithmetic. Their defaults are Keras's, declared with the
other settings in ``config.OPTIMIZER_DEFAULTS``.

All three take Keras's ``weight_decay``: decoupled from the gradient (as AdamW), each step first
shrinks every weight by ``lr * weight_decay`` of itself, then applies the update.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from mnistlab.config import OPTIMIZER_DEFAULTS
from mnistlab.errors import MnistlabError


def decay_weights(params: Iterable[torch.Tensor], lr: float, weight_decay: float) -> None:
    """Keras's decoupled weight decay, before a step's update: ``p -= lr * weight_decay * p``."""
    if weight_decay:
        for p in params:
            p.mul_(1 - lr * weight_decay)


class KerasSGD(torch.optim.SGD):
    """torch's SGD (its momentum, which a one-cycle schedule sets), with Keras's decoupled weight decay
    in place of torch's, which adds ``weight_decay * p`` to the gradient and so passes it through momentum."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 0.01, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr=lr)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = weight_decay

    @torch.no_grad()
    def step(self, closure: None = None) -> None:
        for group in self.param_groups:
            decay_weights(group["params"], group["lr"], group["decoupled_weight_decay"])
        super().step()


class KerasRMSprop(torch.optim.Optimizer):
    """RMSprop as Keras computes it: ``v = rho v + (1 - rho) g^2``, ``p -= lr g / sqrt(v + eps)``."""

    def __init__(
        self, params: Iterable[torch.Tensor], lr: float = 0.001, rho: float = 0.9, eps: float = 1e-7, weight_decay: float = 0.0
    ) -> None:
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: None = None) -> None:
        for group in self.param_groups:
            decay_weights(group["params"], group["lr"], group["weight_decay"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["velocity"] = torch.zeros_like(p)
                velocity = state["velocity"]
                velocity.mul_(group["rho"]).addcmul_(p.grad, p.grad, value=1 - group["rho"])
                p.addcdiv_(p.grad, velocity.add(group["eps"]).sqrt_(), value=-group["lr"])


class KerasAdam(torch.optim.Optimizer):
    """Adam as Keras computes it: ``p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``.

    ``betas`` is one entry, as in torch's Adam, so that a one-cycle schedule can cycle beta1.
    """

    def __init__(
        self, params: Iterable[torch.Tensor], lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-7,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: None = None) -> None:
        for group in self.param_groups:
            decay_weights(group["params"], group["lr"], group["weight_decay"])
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                m, v = state["m"], state["v"]
                m.lerp_(p.grad, 1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                alpha = group["lr"] * (1 - beta2**t) ** 0.5 / (1 - beta1**t)
                p.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-alpha)


OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {"sgd": KerasSGD, "rmsprop": KerasRMSprop, "adam": KerasAdam}


def make_optimizer(
    name: str, params: Iterable[torch.nn.Parameter], lr: float | None = None, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """An optimizer with Keras defaults (``config.OPTIMIZER_DEFAULTS``); ``lr`` overrides the default learning rate,
    ``weight_decay`` is Keras's decoupled one (0: none)."""
    if name not in OPTIMIZERS:
        raise MnistlabError(f"unknown optimizer '{name}'; choose one of {', '.join(OPTIMIZERS)}")
    if lr is not None and not lr > 0:
        raise MnistlabError(f"the learning rate must be positive, got {lr}")
    if not weight_decay >= 0:
        raise MnistlabError(f"weight_decay must be zero or positive, got {weight_decay}")
    settings = {**OPTIMIZER_DEFAULTS[name], **({"lr": lr} if lr is not None else {}), "weight_decay": weight_decay}
    return OPTIMIZERS[name](params, **settings)


def make_schedule(name: str, optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """None for a constant learning rate; for "onecycle", a per-step one-cycle schedule peaking at the optimizer's lr."""
    if name == "constant":
        return None
    peak = optimizer.param_groups[0]["lr"]
    cycles_momentum = not isinstance(optimizer, KerasRMSprop)  # SGD's momentum, Adam's beta1; RMSprop stays momentum-free
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=peak, total_steps=max(total_steps, 1), pct_start=0.25, cycle_momentum=cycles_momentum
    )
