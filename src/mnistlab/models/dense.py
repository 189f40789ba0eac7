"""``Dense``: ``nn.Linear`` that computes small matrix products in fp32 under CPU autocast.

With bf16 autocast, every call casts the weights to bf16 and back for the gradient, and
oneDNN's bf16 matrix product has a fixed cost of some tens of microseconds. For the small
products of a CNN's dense head (the notebook CNN's 64x576 by 576x64 at batch 64) that costs
more than the arithmetic bf16 saves: forward and backward of that layer took 268 µs in bf16
against 174 µs in fp32 on a 2-core AMX Xeon, while at 105 million multiply-adds bf16 was
3.8x faster (docs/speed-notes.md). Below ``small_product`` multiply-adds the layer runs in
fp32.
"""

from __future__ import annotations

import torch
from torch import nn


class Dense(nn.Linear):
    """``nn.Linear`` whose small products leave CPU autocast and run in fp32."""

    small_product = 1 << 23  # multiply-adds (batch x inputs x outputs); the measured crossover is about 8 million

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        autocast = x.device.type == "cpu" and torch.is_autocast_enabled("cpu")
        if autocast and x.numel() * self.out_features < self.small_product:  # size last: export traces a symbolic batch
            with torch.autocast("cpu", enabled=False):
                return super().forward(x.float())
        return super().forward(x)
