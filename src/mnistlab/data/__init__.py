"""Datasets: built-in (MNIST, Fashion-MNIST, digits) and a user's own files."""

from mnistlab.data.dataset import Dataset
from mnistlab.data.loaders import load_dataset
from mnistlab.data.preprocess import Tensors, one_hot, to_tensors

__all__ = ["Dataset", "Tensors", "load_dataset", "one_hot", "to_tensors"]
