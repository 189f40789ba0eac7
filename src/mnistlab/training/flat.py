"""All trainable parameters as views into one buffer, their gradients into another.

On a CPU, torch's optimizers update each parameter tensor with its own few small operations
(RMSprop: five per tensor, and the notebook CNN has ten tensors); for the notebooks' small
networks those dispatches cost more than the arithmetic. With the parameters views into one
flat buffer, the optimizer sees a single tensor and applies the same element-wise arithmetic
to all of them in one pass: results are bit-identical, and a step of the notebook CNN is about
0.3 ms shorter (docs/speed-notes.md).
"""

from __future__ import annotations

import torch


def flatten_parameters(parameters: list[torch.nn.Parameter]) -> torch.nn.Parameter:
    """Make ``parameters`` (one dtype, one device) and their gradients views into two flat buffers.

    Returns the parameter buffer, the one tensor to give the optimizer; its ``.grad`` is the
    gradient buffer. Each parameter keeps its values, shape and memory format. Backward then
    accumulates into the gradient views in place, so clear them between steps with
    ``optimizer.zero_grad(set_to_none=False)``. Unlike torch's per-tensor update, a parameter
    that got no gradient in a step still moves by the optimizer's momentum.
    """
    kinds = {(p.dtype, p.device) for p in parameters}
    if len(kinds) != 1:
        raise ValueError(f"one flat buffer needs parameters of one dtype and device, got {sorted(map(str, kinds))}")
    dtype, device = kinds.pop()
    total = sum(p.numel() for p in parameters)
    values = torch.empty(total, dtype=dtype, device=device)
    grads = torch.zeros(total, dtype=dtype, device=device)
    offset = 0
    for p in parameters:
        view = values[offset : offset + p.numel()].as_strided(p.shape, p.stride())
        view.copy_(p.detach())
        p.data = view
        p.grad = grads[offset : offset + p.numel()].as_strided(p.shape, p.stride())
        offset += p.numel()
    buffer = torch.nn.Parameter(values, requires_grad=False)  # updated by the optimizer, never by autograd
    buffer.grad = grads
    return buffer


def unflatten_parameters(parameters: list[torch.nn.Parameter]) -> None:
    """Undo ``flatten_parameters``: each parameter owns its storage again (as saving needs), gradients cleared."""
    for p in parameters:
        p.data = p.data.clone()
        p.grad = None
