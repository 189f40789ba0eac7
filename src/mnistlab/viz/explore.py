"""Looking at a dataset: printed facts, a pixel matrix, and the notebooks' exploration pictures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from mnistlab.data.dataset import Dataset
from mnistlab.viz.canvas import figure, mosaic, save_png, show_image


def dataset_facts(dataset: Dataset) -> dict:
    """Shapes, dtype, value range, missing values, class counts and per-class mean intensity."""
    x = dataset.x_train
    means = [float(x[dataset.y_train == c].mean()) if np.any(dataset.y_train == c) else float("nan") for c in range(dataset.num_classes)]
    return {
        **dataset.describe(),
        "train_shape": list(dataset.x_train.shape),
        "test_shape": list(dataset.x_test.shape),
        "dtype": str(x.dtype),
        "value_range": [int(min(x.min(), dataset.x_test.min())), int(max(x.max(), dataset.x_test.max()))],
        "missing_values": int(np.isnan(x).sum()) if x.dtype.kind == "f" else 0,
        "class_mean_intensity": means,
    }


def matprint(image: np.ndarray) -> str:
    """An image as its pixel matrix, columns right-aligned (the notebooks' ``matprint``)."""
    width = len(str(int(image.max()))) if image.size else 1
    return "\n".join(" ".join(f"{int(v):>{width}d}" for v in row) for row in image)


def sample_grid(dataset: Dataset, side: int = 8, seed: int = 0):
    """A random ``side`` x ``side`` grid of training images titled with their class."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(dataset.x_train), size=min(side * side, len(dataset.x_train)), replace=False)
    fig = figure(1.3 * side, 1.45 * side)
    axes = fig.subplots(side, side, squeeze=False)
    for ax, index in zip(axes.flat, list(picks) + [None] * (side * side - len(picks))):
        if index is None:
            ax.axis("off")
            continue
        show_image(ax, dataset.x_train[index], dataset.max_value, dataset.class_names[dataset.y_train[index]])
    fig.suptitle(f"{dataset.name}: {len(picks)} random training images (seed {seed})")
    return fig


def class_grid(dataset: Dataset, label: int, side: int = 10, seed: int = 0):
    """``side`` x ``side`` random training images of one class, with the class name as title."""
    rng = np.random.default_rng(seed)
    members = np.flatnonzero(dataset.y_train == label)
    picks = rng.choice(members, size=min(side * side, len(members)), replace=False)
    fig = figure(6, 6.4)
    ax = fig.add_subplot()
    show_image(ax, mosaic(dataset.x_train[np.sort(picks)], cols=side), dataset.max_value)
    ax.set_title(f"{dataset.class_names[label]} (class {label}): {len(picks)} of {len(members)} training images", fontsize=11)
    return fig


def class_distribution(dataset: Dataset):
    """Bar chart of images per class, train and test side by side."""
    facts = dataset.describe()
    positions = np.arange(dataset.num_classes)
    fig = figure(max(6, 0.7 * dataset.num_classes + 2), 4)
    ax = fig.add_subplot()
    ax.bar(positions - 0.2, facts["train_counts"], width=0.4, label=f"train ({facts['train']})")
    ax.bar(positions + 0.2, facts["test_counts"], width=0.4, label=f"test ({facts['test']})")
    long_names = dataset.num_classes > 10 or max(map(len, dataset.class_names)) > 4
    ax.set_xticks(positions, dataset.class_names, rotation=30 if long_names else 0, ha="right" if long_names else "center")
    ax.set_xlabel("class")
    ax.set_ylabel("images")
    ax.set_title(f"{dataset.name}: images per class")
    ax.set_ylim(top=1.18 * max(facts["train_counts"] + facts["test_counts"]))
    ax.legend(loc="upper right", ncols=2)
    return fig


def intensity_histogram(dataset: Dataset):
    """Histogram of every non-zero pixel value of the training images (zeros dominate and are left out)."""
    counts = np.bincount(dataset.x_train.ravel(), minlength=dataset.max_value + 1)
    zeros = counts[0]
    fig = figure(7, 4)
    ax = fig.add_subplot()
    ax.bar(np.arange(1, len(counts)), counts[1:], width=1.0)
    ax.set_xlabel("pixel value")
    ax.set_ylabel("pixels")
    ax.set_title(f"{dataset.name}: pixel intensities, zeros left out ({zeros / counts.sum():.0%} of pixels are 0)")
    return fig


def pixel_maxima_histogram(dataset: Dataset):
    """Histogram of each pixel position's maximum over the training set, with the map of those maxima."""
    maxima = dataset.x_train.max(axis=0)
    fig = figure(9, 4)
    hist_ax, map_ax = fig.subplots(1, 2, width_ratios=[2, 1])
    bins = np.arange(dataset.max_value + 2) - 0.5 if dataset.max_value <= 64 else np.linspace(0, dataset.max_value, 65)
    hist_ax.hist(maxima.ravel(), bins=bins)
    hist_ax.set_xlabel("maximum value at the pixel position")
    hist_ax.set_ylabel("pixel positions")
    hist_ax.set_title(f"{dataset.name}: per-pixel maxima")
    image = map_ax.imshow(maxima, cmap="viridis", vmin=0, vmax=dataset.max_value)
    map_ax.set_title("where the maxima are")
    map_ax.set_xticks([])
    map_ax.set_yticks([])
    fig.colorbar(image, ax=map_ax, shrink=0.8)
    return fig


def mean_images(dataset: Dataset):
    """The mean training image of each class."""
    cols = min(dataset.num_classes, 10)
    rows = (dataset.num_classes + cols - 1) // cols
    fig = figure(1.4 * cols, 1.6 * rows + 0.4)
    axes = fig.subplots(rows, cols, squeeze=False)
    for label, ax in enumerate(axes.flat):
        members = dataset.x_train[dataset.y_train == label]
        if label >= dataset.num_classes or len(members) == 0:
            ax.axis("off")
            continue
        show_image(ax, members.mean(axis=0), dataset.max_value, dataset.class_names[label], fontsize=9)
    fig.suptitle(f"{dataset.name}: mean image per class")
    return fig


def explore(dataset: Dataset, out: str | Path, seed: int = 0, side: int = 8, progress: Callable[[str], None] = print) -> list[Path]:
    """Write every exploration picture of ``dataset`` into ``out``; return their paths."""
    out = Path(out)
    figures: list[tuple[str, Callable[[], object]]] = [
        ("samples.png", lambda: sample_grid(dataset, side, seed)),
        ("class-distribution.png", lambda: class_distribution(dataset)),
        ("pixel-intensities.png", lambda: intensity_histogram(dataset)),
        ("pixel-maxima.png", lambda: pixel_maxima_histogram(dataset)),
        ("class-means.png", lambda: mean_images(dataset)),
    ]
    for label, name in enumerate(dataset.class_names):
        slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")
        figures.append((f"class-{label:02d}-{slug}.png", lambda label=label: class_grid(dataset, label, 10, seed)))
    paths = []
    for i, (filename, make) in enumerate(figures, 1):
        progress(f"[{i}/{len(figures)}] {out / filename}")
        paths.append(save_png(make(), out / filename))
    return paths
