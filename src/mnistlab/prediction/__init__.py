"""Using a model: image preparation as the datasets were prepared, decision rules, engines (torch, ONNX), export."""
