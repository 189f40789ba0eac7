"""Using a model: MNIST-style image preparation, decision rules, engines (torch, ONNX), export."""

from mnistlab.predict.predictor import Prediction, Predictor

__all__ = ["Prediction", "Predictor"]
