"""Evaluation: a run's predictions on its test set and the numbers derived from them."""

from mnistlab.evaluation.analysis import Analysis, analyze

__all__ = ["Analysis", "analyze"]
