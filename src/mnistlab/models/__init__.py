"""Models: layer specs → PyTorch networks, the notebooks' zoo, Keras-style summaries."""
