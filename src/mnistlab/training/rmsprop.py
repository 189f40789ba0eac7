"""RMSprop as Keras defines it (no momentum, not centred), updating all parameters as one flat vector.

torch's RMSprop runs a handful of small operations per parameter tensor; for the notebooks'
small networks that per-operation overhead is a visible share of a training step on a CPU.
Here the gradients are gathered into one vector, the update is computed with four operations on
it, and one multi-tensor add applies it: the same arithmetic as ``torch.optim.RMSprop``
(``square_avg = rho * square_avg + (1 - rho) * g²``; ``p -= lr * g / (sqrt(square_avg) + eps)``).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class FlatRMSprop(torch.optim.Optimizer):
    """Keras's RMSprop (``learning_rate``, ``rho``, ``epsilon``) over one flat state vector per parameter group."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3, rho: float = 0.9, eps: float = 1e-7) -> None:
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps})

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # type: ignore[override]
        """One update; a parameter without a gradient this step counts as a zero gradient."""
        for group in self.param_groups:
            params = group["params"]
            grad = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
            state = self.state[params[0]]
            if "square_avg" not in state:
                state["square_avg"] = torch.zeros_like(grad)
            square_avg = state["square_avg"]
            square_avg.mul_(group["rho"]).addcmul_(grad, grad, value=1 - group["rho"])
            update = grad.div_(square_avg.sqrt().add_(group["eps"])).mul_(-group["lr"])
            torch._foreach_add_(params, [u.view_as(p) for u, p in zip(update.split([p.numel() for p in params]), params)])
