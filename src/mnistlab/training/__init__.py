"""Training: the loop, Keras-default optimizers, early stopping, augmentation, progress."""

from mnistlab.training.augment import Augmentation
from mnistlab.training.early_stopping import EarlyStopping
from mnistlab.training.loop import FitResult, evaluate_tensors, fit
from mnistlab.training.optimizers import make_optimizer

__all__ = ["Augmentation", "EarlyStopping", "FitResult", "evaluate_tensors", "fit", "make_optimizer"]
