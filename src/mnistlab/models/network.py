"""``Network``: a sequential PyTorch model built from layer specs that can rebuild itself."""

from __future__ import annotations

import math
from collections import Counter

import torch
from torch import nn

from mnistlab.errors import MnistlabError
from mnistlab.models.first_stage import first_stage, fusable, usable
from mnistlab.models.layers import BuiltLayer, build_layer, normalize_spec


class Network(nn.Module):
    """A stack of spec layers; outputs logits (a final softmax is applied by ``predict_proba``).

    ``architecture`` (input shape + normalized layer specs) is plain JSON-able data, enough
    to rebuild the same network without any recipe or Python code.
    """

    def __init__(self, layers: list[dict], input_shape: tuple[int, ...]) -> None:
        super().__init__()
        if not layers:
            raise MnistlabError("a model needs at least one layer")
        specs = [normalize_spec(spec, i) for i, spec in enumerate(layers)]
        for i, spec in enumerate(specs[:-1]):
            if spec.get("activation") == "softmax":
                raise MnistlabError(f"layer {i} ({spec['type']}): softmax is only allowed on the last layer")
        for i, spec in enumerate(specs[1:], start=1):
            if spec.get("kernel_initializer") == "pca":
                raise MnistlabError(
                    f"layer {i} (conv2d): kernel_initializer 'pca' is computed from the images' own patches, "
                    "so only the first layer can use it"
                )
        last = specs[-1]
        if last["type"] != "dense" or last["activation"] not in ("softmax", "linear"):
            raise MnistlabError("the last layer must be a dense layer with activation 'softmax' (one unit per class)")
        self.input_shape = tuple(int(n) for n in input_shape)
        self.specs = specs
        self.built: list[BuiltLayer] = []
        counts: Counter[str] = Counter()
        shape = self.input_shape
        for i, spec in enumerate(specs):
            module, shape = build_layer(spec, shape, i)
            kind = spec["type"]
            name = kind if counts[kind] == 0 else f"{kind}_{counts[kind]}"
            counts[kind] += 1
            self.built.append(BuiltLayer(name, module, shape))
        self.layers = nn.ModuleList(layer.module for layer in self.built)
        # Every activation here is monotonic, so act(pool(core(x))) equals pool(act(core(x))), gradients
        # included; pooling first runs the activation on a quarter of the values.
        # The feature layer's own output is kept, so it is never the first of such a pair.
        self._pool_first = {
            i for i, spec in enumerate(specs[:-1])
            if isinstance(self.layers[i], nn.Sequential) and specs[i + 1]["type"] == "maxpool2d" and i != self.feature_layer
        }
        # Whether layers 0 and 1 run as one native kernel on CPU batches (models/first_stage.py); False
        # runs them as the torch modules they are.
        self.fused_first_stage = 0 in self._pool_first and fusable(specs, self.input_shape)

    @property
    def num_classes(self) -> int:
        return self.built[-1].output_shape[0]

    @property
    def flat_input(self) -> bool:
        """Whether the network takes flattened images (its first layer is dense)."""
        return len(self.input_shape) == 1

    @property
    def architecture(self) -> dict:
        return {"input_shape": list(self.input_shape), "layers": self.specs}

    @classmethod
    def from_architecture(cls, architecture: dict) -> "Network":
        return cls(architecture["layers"], tuple(architecture["input_shape"]))

    @property
    def feature_layer(self) -> int:
        """The layer whose output describes an image for the typicality check: the last hidden layer, what the
        classifier itself reads (-1, the input itself, for a network of one layer)."""
        return len(self.layers) - 2

    @property
    def feature_widths(self) -> tuple[int]:
        """(D,): how many features ``features`` gives an image."""
        shape = self.input_shape if self.feature_layer == -1 else self.built[self.feature_layer].output_shape
        return (math.prod(shape),)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, *input_shape) -> (B, classes) logits
        return self._run(x, keep=None)[0]

    def logits_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, classes) logits and (B, D) features of ``feature_layer``."""
        return self._run(x, keep=self.feature_layer)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D) features of ``feature_layer``: what the typicality check measures."""
        return self._run(x, keep=self.feature_layer)[1]

    def _run(self, x: torch.Tensor, keep: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits, and the flattened output of layer ``keep`` (-1: the input; None: none)."""
        features = x.flatten(1) if keep == -1 else None
        i = 0
        while i < len(self.layers):
            if i in self._pool_first:
                core, activation = self.layers[i]
                if i == 0 and self.fused_first_stage and usable(x):
                    x = first_stage(x, core)
                else:
                    x = activation(self.layers[i + 1](core(x)))
                i += 2
            else:
                x = self.layers[i](x)
                i += 1
            if i - 1 == keep:
                features = x.flatten(1)
        return x, features

    @torch.inference_mode()
    def predict_proba(self, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Class probabilities (softmax), computed in eval mode in large batches."""
        was_training = self.training
        self.eval()
        try:
            return torch.cat([torch.softmax(self(x[i : i + batch_size]), dim=1) for i in range(0, len(x), batch_size)])
        finally:
            self.train(was_training)
