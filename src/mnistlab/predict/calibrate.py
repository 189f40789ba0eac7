"""Choosing a run's decision thresholds from held-out data, and its risk-coverage curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mnistlab.atomic import write_text
from mnistlab.data.dataset import Dataset
from mnistlab.data.preprocess import prepare_images
from mnistlab.models.network import Network
from mnistlab.predict.decision import DecisionRule, answered_curve, choose_thresholds, fit_feature_stats, top_two
from mnistlab.predict.engines import TorchEngine
from mnistlab.tables import csv_table
from mnistlab.viz.canvas import figure, save_png

FIT_IMAGES = 20_000  # training images used for the class means and covariance
TARGET_ACCURACIES = (0.99, 0.995, 0.999)


def calibrate(network: Network, x_fit: torch.Tensor, y_fit: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor, chosen_on: str) -> DecisionRule:
    """Fit feature statistics on training images and pick thresholds on held-out ones."""
    engine = TorchEngine(network.cpu())
    _, fit_features = engine.run(x_fit[:FIT_IMAGES].cpu().numpy())
    stats = fit_feature_stats(fit_features, y_fit[:FIT_IMAGES].cpu().numpy(), network.num_classes)
    probs, features = engine.run(x_val.cpu().numpy())
    thresholds = choose_thresholds(probs, y_val.cpu().numpy(), stats.distances(features), chosen_on)
    return DecisionRule(thresholds, stats)


def calibrate_on_dataset(network: Network, dataset: Dataset) -> DecisionRule:
    """``calibrate`` with the dataset's training images and its test set as held-out data."""
    x_fit = prepare_images(dataset.x_train[:FIT_IMAGES], dataset.max_value, network.flat_input)  # all calibrate uses
    x_test = prepare_images(dataset.x_test, dataset.max_value, network.flat_input)
    return calibrate(network, x_fit, torch.from_numpy(dataset.y_train[:FIT_IMAGES]), x_test, torch.from_numpy(dataset.y_test),
                     f"test set ({len(dataset.y_test)} images)")


def risk_coverage(probabilities: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For thresholds on the top probability, highest first: (threshold, coverage, accuracy of the answered)."""
    confidence, _ = top_two(probabilities)
    return answered_curve(confidence, probabilities.argmax(axis=1) == labels)


def threshold_table(
    thresholds: np.ndarray, coverage: np.ndarray, accuracy: np.ndarray, targets: tuple[float, ...] = TARGET_ACCURACIES
) -> list[dict]:
    """From a ``risk_coverage`` curve, for each target accuracy: the lowest confidence threshold reaching it, and the share answered."""
    rows = []
    for target in targets:
        ok = np.flatnonzero(accuracy >= target)
        if len(ok) == 0:
            rows.append({"target_accuracy": target, "threshold": None, "coverage": 0.0, "accuracy": None})
            continue
        last = ok[-1]
        rows.append({"target_accuracy": target, "threshold": float(thresholds[last]), "coverage": float(coverage[last]), "accuracy": float(accuracy[last])})
    return rows


def write_threshold_report(probabilities: np.ndarray, labels: np.ndarray, folder: Path, title: str) -> tuple[Path, Path, list[dict]]:
    """risk-coverage.png and thresholds.csv in ``folder``."""
    thresholds, coverage, accuracy = risk_coverage(probabilities, labels)
    rows = threshold_table(thresholds, coverage, accuracy)
    fig = figure(8, 4.5)
    ax = fig.add_subplot()
    ax.plot(coverage, accuracy, color="tab:blue")
    for row in rows:
        if row["threshold"] is not None:
            ax.plot(row["coverage"], row["accuracy"], "o", label=f"{row['target_accuracy']:.1%}: threshold {row['threshold']:.4f}, answers {row['coverage']:.1%}")
    ax.set_xlabel("coverage (share of images answered)")
    ax.set_ylabel("accuracy of the answered images")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    png = save_png(fig, folder / "risk-coverage.png")
    headers = ["target_accuracy", "threshold", "coverage", "accuracy"]
    body = [["" if r[k] is None else f"{r[k]:.6f}" for k in headers] for r in rows]
    csv_path = folder / "thresholds.csv"
    write_text(csv_path, csv_table(headers, body))
    return png, csv_path, rows
