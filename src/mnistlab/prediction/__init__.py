"""Using a model: MNIST-style image preparation, decision rules, engines (torch, ONNX), export."""
