"""Models: layer specs → PyTorch networks, the notebooks' zoo, Keras-style summaries."""

from mnistlab.models.network import Network
from mnistlab.models.summary import count_params, summary
from mnistlab.models.zoo import ZOO, build_model

__all__ = ["ZOO", "Network", "build_model", "count_params", "summary"]
