"""Outlier exposure (Hendrycks, Mazeika & Dietterich, ICLR 2019): every batch also shows the network
some non-digits and teaches it to spread its answer over all classes for them.

A network trained on digits alone has never been told that anything else exists, so it answers a
letter "W" as a confident "4". Here each batch gets ``share`` of its size again in scribbles
(data/scribbles.py), augmented like the digits, and the step adds ``weight`` times their
cross-entropy to the uniform distribution. What that buys is measured by ``mnistlab abstention``
on letters, clothes and noise, none of which training sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mnistlab.data.preprocess import prepare_images
from mnistlab.data.scribbles import scribbles
from mnistlab.errors import MnistlabError


@dataclass(frozen=True)
class OutlierExposure:
    """Scribbles in the network's input layout (N, *input) and how much of each batch they are."""

    images: torch.Tensor
    share: float
    weight: float

    def batch(self, digits: int) -> torch.Tensor:
        """Scribbles to show beside a batch of ``digits`` images, drawn with torch's global generator."""
        count = max(1, round(digits * self.share))
        return self.images.index_select(0, torch.randint(len(self.images), (count,), device=self.images.device))


def uniform_cross_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Each row's cross-entropy to the uniform distribution over the classes (log C when it answers uniformly)."""
    return -logits.log_softmax(dim=1).mean(dim=1)


def outlier_exposure(settings: dict, image_shape: tuple[int, int], flat: bool, seed: int, device: torch.device) -> OutlierExposure:
    """The run's scribbles (``settings``: config.OUTLIER_DEFAULTS's keys), drawn once from ``seed``."""
    if image_shape[0] != image_shape[1]:
        raise MnistlabError(f"outlier exposure draws square scribbles, but this dataset's images are {image_shape[0]}x{image_shape[1]}; "
                            "train without outliers")
    side = image_shape[0]
    pictures = scribbles(int(settings["images"]), seed, side)
    return OutlierExposure(prepare_images(pictures, 255, flat, device), float(settings["share"]), float(settings["weight"]))
