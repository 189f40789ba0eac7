"""Outlier exposure: scribbles laid out like MNIST digits, the uniform-target loss, and what training with them changes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from mnistlab import MnistlabError, TrainConfig, load_dataset, train
from mnistlab.config import OUTLIER_DEFAULTS
from mnistlab.data.preprocess import prepare_images
from mnistlab.data.scribbles import scribbles
from mnistlab.training.loop import train_step
from mnistlab.training.outliers import OutlierExposure, uniform_cross_entropy
from mnistlab.training.progress import Progress


def test_scribbles_are_laid_out_as_mnist_digits() -> None:
    pictures = scribbles(50, seed=3)
    assert pictures.shape == (50, 28, 28) and pictures.dtype == np.uint8
    assert np.array_equal(pictures, scribbles(50, seed=3)) and not np.array_equal(pictures, scribbles(50, seed=4))
    for picture in pictures:
        rows, cols = np.flatnonzero(picture.any(axis=1)), np.flatnonzero(picture.any(axis=0))
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 22  # the 20-pixel box, and a pixel of anti-aliasing
        cy, cx = ndimage.center_of_mass(picture.astype(float))
        assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1
    assert scribbles(4, seed=0, side=8).shape == (4, 8, 8)


def test_uniform_cross_entropy_is_the_soft_target_loss() -> None:
    logits = torch.randn(6, 10)
    soft = F.cross_entropy(logits, torch.full((6, 10), 0.1), reduction="none")
    assert torch.allclose(uniform_cross_entropy(logits), soft, atol=1e-6)
    assert uniform_cross_entropy(torch.zeros(1, 10)).item() == pytest.approx(math.log(10))


def test_a_ranks_share_adds_up_to_the_single_process_step() -> None:
    """Under torchrun a rank weighs its summed losses by 1/global batch; on one rank that must equal the mean step."""
    torch.manual_seed(0)
    x, y = torch.randn(10, 5), torch.randint(0, 3, (8,))  # 8 labelled rows, then 2 scribbles: share 0.25
    outliers = OutlierExposure(torch.zeros(0, 5), share=0.25, weight=0.5)
    updated = []
    for weight in (None, 1 / len(y)):
        torch.manual_seed(1)
        network = torch.nn.Linear(5, 3)
        optimizer = torch.optim.SGD(network.parameters(), lr=1.0)
        summed, logits = train_step(network, x, y, optimizer, None, weight, outliers)
        assert logits.shape == (8, 3)
        updated.append(network.weight.detach().clone())
    assert torch.allclose(updated[0], updated[1], atol=1e-6)


def test_training_with_outliers_makes_the_network_unsure_of_new_scribbles(tmp_path: Path) -> None:
    digits = load_dataset("digits")
    unseen = prepare_images(scribbles(300, seed=99, side=8), 255, flat=True)  # other scribbles than the run's
    confidence = {}
    for outliers in (None, {}):
        config = TrainConfig(name="t", dataset="digits", model="mlp-128-64-32", optimizer="adam", batch_size=32, epochs=4, outliers=outliers)
        run = train(config, out=tmp_path / str(outliers), progress=Progress(quiet=True), dataset=digits)
        assert run.metrics["test_accuracy"] > 0.85
        confidence[outliers is not None] = run.network.predict_proba(unseen).max(dim=1).values.mean().item()
    assert run.config.outliers == OUTLIER_DEFAULTS  # saved resolved, so the run replays
    assert confidence[True] < confidence[False] - 0.2, confidence


@pytest.mark.parametrize("bad", [{"share": 0}, {"weight": -1.0}, {"images": 0}, {"images": 2.5}, {"count": 3}])
def test_bad_outlier_settings_are_refused(bad: dict) -> None:
    with pytest.raises(MnistlabError, match="outliers"):
        TrainConfig(outliers=bad)
