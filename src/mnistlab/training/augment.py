"""On-the-fly augmentation as one batched affine warp (no per-image Python).

Matches Keras's ``ImageDataGenerator(rotation_range, width_shift_range, height_shift_range,
shear_range, zoom_range, horizontal_flip)`` as the batch-norm notebook uses it: for every image, a
random rotation (degrees), shift (fraction of the side), shear (degrees) and independent x/y zoom
in [1 - zoom, 1 + zoom], and with ``horizontal_flip`` a mirror image half the time; edges are
filled with the nearest pixel. With ``whole_pixel_shifts`` each shift is rounded to whole pixels, as
Keras does for a shift range given as a whole number of pixels and as random crops shift: a
fractional shift reads every pixel between two and so blurs the image, as test images never are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random affine transform (the notebook's values: ``config.AUGMENT_DEFAULTS``)."""

    rotation: float  # degrees, uniform in [-rotation, rotation]
    shift: float  # fraction of width/height
    shear: float  # degrees
    zoom: float  # scale uniform in [1 - zoom, 1 + zoom], x and y independently
    horizontal_flip: bool = False  # mirror left-right with probability 1/2
    whole_pixel_shifts: bool = False  # round each shift to whole pixels, keeping unrotated, unzoomed images sharp

    def matrices(self, n: int, device: torch.device, height: int, width: int) -> torch.Tensor:
        """(n, 2, 3) affine matrices mapping output to input coordinates (normalized [-1, 1]) for height x width images."""

        def uniform(bound: float) -> torch.Tensor:
            return (torch.rand(n, device=device) * 2 - 1) * bound

        theta = uniform(math.radians(self.rotation))
        shear = uniform(math.radians(self.shear))
        zx, zy = 1 + uniform(self.zoom), 1 + uniform(self.zoom)
        if self.horizontal_flip:  # a negative x scale reads each output row from right to left
            zx = zx * (torch.randint(0, 2, (n,), device=device) * 2 - 1)
        tx, ty = uniform(2 * self.shift), uniform(2 * self.shift)  # a side spans 2 in normalized coords
        if self.whole_pixel_shifts:  # so a pixel spans 2 / side
            tx, ty = (tx * width / 2).round() * 2 / width, (ty * height / 2).round() * 2 / height
        cos, sin = torch.cos(theta), torch.sin(theta)
        # rotation @ shear @ zoom, written out per entry
        a = cos * zx
        b = (-sin * torch.cos(shear) - cos * torch.sin(shear)) * zy
        c = sin * zx
        d = (cos * torch.cos(shear) - sin * torch.sin(shear)) * zy
        return torch.stack([torch.stack([a, b, tx], 1), torch.stack([c, d, ty], 1)], 1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Warp a batch (N, C, H, W) with a fresh random transform per image."""
        theta = self.matrices(len(images), images.device, *images.shape[-2:]).to(images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
