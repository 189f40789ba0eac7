"""Evaluation: a run's predictions on its test set and the numbers derived from them."""
