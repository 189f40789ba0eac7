"""Initialisation computed from the training images: a first convolution's ``kernel_initializer = "pca"``.

The filters are the principal directions of the images' k x k patches (as the layer sees them, at
its stride), the strongest first, each once as itself and once negated, so that a relu after them
keeps both signs. Frozen (``trainable = false``) this gives a fixed first stage that describes
strokes better than random filters do: fast-99 reaches the same accuracy with a smaller trained
layer after it (docs/speed-notes.md). It is the idea of airbench's frozen whitening stem, without
the whitening: the directions keep unit length.
"""

from __future__ import annotations

import torch
from torch import nn

from mnistlab.models.network import Network

PATCH_IMAGES = 5000  # plenty for the second moments of a few dozen pixels


def pca_filters(images: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv.out_channels`` filters for ``images`` (N, C, H, W): the top principal directions, + and -."""
    sample = images[:PATCH_IMAGES].float()
    patches = nn.functional.unfold(sample, conv.kernel_size, stride=conv.stride)  # (N, C*k*k, L)
    patches = patches.transpose(1, 2).reshape(-1, patches.shape[1])
    _, directions = torch.linalg.eigh(patches.T @ patches / len(patches))  # ascending eigenvalues
    top = directions.flip(1)[:, : conv.out_channels // 2].T.reshape(-1, *conv.weight.shape[1:])
    return torch.cat([top, -top])


def initialize_from_data(network: Network, images: torch.Tensor) -> None:
    """Set the weights of the layers whose initializer needs data (only the first layer can have one)."""
    if network.specs[0].get("kernel_initializer") != "pca":
        return
    conv = next(module for module in network.layers[0].modules() if isinstance(module, nn.Conv2d))
    with torch.no_grad():
        conv.weight.copy_(pca_filters(images, conv))
        conv.bias.zero_()
