"""Datasets: built-in (MNIST, Fashion-MNIST, digits) and a user's own files."""
