"""Training: the loop, Keras-default optimizers, early stopping, augmentation, progress."""
