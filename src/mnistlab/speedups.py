"""The CPU speed-ups, behind one seam: the model and the loop read as plain PyTorch, and ``prepare``
switches on, for one training, each speed-up its config leaves on (``config.SPEEDUP_DEFAULTS``).

- ``native_first_stage``: a network that starts like the notebook CNN (3x3 relu convolution, 2x2
  pool) runs that stage as one C kernel on CPU batches (models/first_stage.py, native/).
- ``flat_parameters``: every trainable parameter is a view into one buffer, so the optimizer
  updates them all in one pass (training/flat.py).
- ``keep_freed_memory``: glibc keeps freed memory, so steps stop page-faulting their activations
  in (training/allocator.py).
- ``fp32_small_dense``: under CPU bf16 autocast, dense layers with small products stay fp32
  (models/dense.py).

Each one's measured gain is a row of the benchmark's step table (docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mnistlab.models.dense import Dense
from mnistlab.models.network import Network
from mnistlab.training.allocator import keep_freed_memory
from mnistlab.training.flat import flatten_parameters, unflatten_parameters


@dataclass
class Prepared:
    """What ``prepare`` switched on: the tensors to give the optimizer, and how to undo the flat buffer."""

    optimized: list[torch.nn.Parameter]
    trainable: list[torch.nn.Parameter]
    flat: bool

    def release(self) -> None:
        """Give each parameter its own storage again (saving needs that)."""
        if self.flat:
            unflatten_parameters(self.trainable)


def prepare(network: Network, switches: dict[str, bool]) -> Prepared:
    """Apply the speed-ups that ``switches`` (a resolved config's ``speedups``) leave on to ``network``."""
    if switches["keep_freed_memory"]:
        keep_freed_memory()
    if not switches["fp32_small_dense"]:
        for module in network.modules():
            if isinstance(module, Dense):
                module.small_product = 0
    if not switches["native_first_stage"]:
        network.fused_first_stage = False
    trainable = [p for p in network.parameters() if p.requires_grad]
    flat = switches["flat_parameters"]
    return Prepared([flatten_parameters(trainable)] if flat else trainable, trainable, flat)
