"""Inference engines: the PyTorch network, or its ONNX export run by onnxruntime.

Both take float32 images shaped as the network's input (N, 1, H, W) or (N, H*W), scaled to
[0, 1], and return (probabilities (N, C), features (N, D)); features (``Network.feature_layer``) feed the
typicality check.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from mnistlab.config import ENGINES
from mnistlab.errors import MnistlabError
from mnistlab.models.network import Network

ONNX_FILE = "model.onnx"


class TorchEngine:
    name = "torch"

    def __init__(self, network: Network, batch_size: int = 512) -> None:
        self.network = network.eval()
        self.batch_size = batch_size

    def batches(self, x: np.ndarray) -> Iterator[torch.Tensor]:
        for i in range(0, len(x), self.batch_size):
            yield torch.from_numpy(np.ascontiguousarray(x[i : i + self.batch_size]))

    @torch.inference_mode()
    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs, feats = [], []
        for batch in self.batches(x):
            logits, f = self.network.logits_and_features(batch)
            probs.append(torch.softmax(logits, dim=1).numpy())
            feats.append(f.numpy())
        return np.concatenate(probs), np.concatenate(feats)

    @torch.inference_mode()
    def features(self, x: np.ndarray) -> np.ndarray:
        """The features alone (for an ensemble with TTA, of the unshifted images: the other views need not run)."""
        return np.concatenate([self.network.features(batch).numpy() for batch in self.batches(x)])


class OnnxEngine:
    name = "onnx"

    def __init__(self, path: Path) -> None:
        import onnxruntime

        if not path.is_file():
            raise MnistlabError(f"{path} does not exist; export the run first with `mnistlab export {path.parent} --format onnx`")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs, feats = self.session.run(["probabilities", "features"], {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})
        return probs, feats


def make_engine(name: str, network: Network, run_path: Path) -> TorchEngine | OnnxEngine:
    if name == "torch":
        return TorchEngine(network)
    if name == "onnx":
        return OnnxEngine(run_path / ONNX_FILE)
    raise MnistlabError(f"engine must be one of {', '.join(ENGINES)}, got '{name}'")
