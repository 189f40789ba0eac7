"""``mnistlab bench``: speed and time-to-accuracy, side by side with a Keras reference."""
