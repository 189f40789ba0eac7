"""Pictures of one run: training curves, confusion matrices, galleries, confidence histogram."""

from __future__ import annotations

import numpy as np

from mnistlab.evaluation.analysis import Analysis
from mnistlab.evaluation.calibration import Reliability
from mnistlab.viz.canvas import figure, show_image

TRAIN_COLOR, VAL_COLOR = "tab:blue", "tab:orange"


def curves(history: list[dict], best_epoch: int | None = None, title: str = ""):
    """Loss and accuracy per epoch, train vs validation, on two panels; the restored best epoch marked."""
    fig = figure(11, 4)
    epochs = [row["epoch"] for row in history]
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy")):
        ax.plot(epochs, [row[metric] for row in history], "o-", color=TRAIN_COLOR, label=f"train {metric}")
        val = [row.get(f"val_{metric}") for row in history]
        if any(v is not None for v in val):
            ax.plot(epochs, [np.nan if v is None else v for v in val], "o-", color=VAL_COLOR, label=f"validation {metric}")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="tab:green", linestyle="--", label=f"best epoch ({best_epoch}), restored")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric.capitalize())
        ax.set_xticks(epochs if len(epochs) <= 20 else np.linspace(epochs[0], epochs[-1], 11).round().astype(int))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def _matrix(ax, matrix: np.ndarray, names: tuple[str, ...], title: str, fmt: str) -> None:
    image = ax.imshow(matrix, cmap="Blues")
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, names, rotation=45 if max(map(len, names)) > 2 else 0, ha="right" if max(map(len, names)) > 2 else "center")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    if len(names) <= 20:
        threshold = matrix.max() / 2 if matrix.size else 0
        for (i, j), value in np.ndenumerate(matrix):
            text = format(value, fmt)
            if value and text.strip("0.") != "":
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if value > threshold else "black")
    ax.figure.colorbar(image, ax=ax, shrink=0.75)


def confusion(analysis: Analysis):
    """Confusion matrix as counts and row-normalised (recall per true class), side by side."""
    size = max(5.5, 0.45 * len(analysis.class_names) + 2)
    fig = figure(2 * size, size * 0.85)
    left, right = fig.subplots(1, 2)
    _matrix(left, analysis.confusion(), analysis.class_names, "Confusion matrix (counts)", "d")
    _matrix(right, analysis.confusion(normalize=True), analysis.class_names, "Row-normalised (share of each true class)", ".2f")
    return fig


def gallery(analysis: Analysis, indices: np.ndarray, title: str, max_value: int, cols: int = 8):
    """Tiles titled 'pred NAME (confidence) / true NAME', wrong predictions in red."""
    rows = max(1, (len(indices) + cols - 1) // cols)
    fig = figure(1.55 * cols, 1.9 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False)
    predictions, confidence = analysis.predictions, analysis.confidence
    for ax, index in zip(axes.flat, list(indices) + [None] * (rows * cols - len(indices))):
        if index is None:
            ax.axis("off")
            continue
        predicted, true = analysis.class_names[predictions[index]], analysis.class_names[analysis.labels[index]]
        label = f"pred {predicted} ({confidence[index]:.2f})\ntrue {true}"
        show_image(ax, analysis.images[index], max_value, label, color="black" if predicted == true else "tab:red", fontsize=8)
    if len(indices) == 0:
        axes.flat[0].text(0.5, 0.5, "none", ha="center", va="center")
    fig.suptitle(title)
    return fig


def confidence_histogram(analysis: Analysis):
    """How confident the model is on its right and on its wrong answers."""
    fig = figure(8, 4)
    ax = fig.add_subplot()
    bins = np.linspace(0, 1, 41)
    correct = analysis.correct
    ax.hist(analysis.confidence[correct], bins=bins, alpha=0.7, label=f"right ({correct.sum()})", color="tab:green")
    ax.hist(analysis.confidence[~correct], bins=bins, alpha=0.7, label=f"wrong ({(~correct).sum()})", color="tab:red")
    ax.set_yscale("log")
    ax.set_xlabel("confidence (top softmax probability)")
    ax.set_ylabel("images (log scale)")
    ax.set_title("Confidence of right vs wrong predictions")
    ax.legend()
    return fig


def reliability_diagram(panels: list[tuple[str, Reliability]]):
    """Accuracy against confidence per bin, one panel per (title, reliability); a calibrated model sits on the diagonal. Under
    each, the images in every bin (log scale): a bin of a handful of images draws as tall a gap as one of thousands."""
    fig = figure(5.2 * len(panels), 5.8)
    rows = fig.subplots(2, len(panels), squeeze=False, sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    for ax, counts_ax, (title, bins) in zip(rows[0], rows[1], panels):
        centers, width = (bins.edges[:-1] + bins.edges[1:]) / 2, bins.edges[1] - bins.edges[0]
        used = bins.counts > 0
        ax.bar(centers[used], bins.accuracy[used], width=width * 0.95, color="tab:blue", alpha=0.8, label="accuracy in the bin")
        gaps = bins.confidence[used] - bins.accuracy[used]
        # hatched, not filled: where accuracy exceeds confidence the gap lies over the accuracy bar and must still read as a gap
        ax.bar(centers[used], gaps, bottom=bins.accuracy[used], width=width * 0.95, fill=False, edgecolor="tab:red", hatch="///",
               linewidth=0.8, label="gap to confidence")
        ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_ylabel("accuracy")
        ax.set_title(f"{title}: ECE {bins.ece:.4f}")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
        counts_ax.bar(centers[used], bins.counts[used], width=width * 0.95, color="tab:gray")
        counts_ax.set_yscale("log")
        counts_ax.set_ylabel("images")
        counts_ax.set_xlabel("confidence (top probability)")
        counts_ax.grid(alpha=0.3)
    return fig
