"""Keras-style layer specs (plain dicts, as written in a recipe) → PyTorch modules.

A model is a list of layer specs plus an input shape, e.g.::

    [{"type": "conv2d", "filters": 32, "kernel_size": 3, "activation": "relu"},
     {"type": "maxpool2d", "pool_size": 2},
     {"type": "flatten"},
     {"type": "dense", "units": 10, "activation": "softmax"}]

Keras semantics so results compare with the notebooks: Glorot-uniform kernels, zero
biases, batch norm with momentum 0.99 (Keras's convention) and epsilon 1e-3. A final ``softmax`` is folded
into the loss: the network outputs logits and ``predict_proba`` applies the softmax.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from mnistlab.checks import is_whole_number
from mnistlab.errors import MnistlabError
from mnistlab.models.dense import Dense

ACTIVATIONS = {
    "linear": nn.Identity,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "softmax": nn.Identity,  # only allowed last: the softmax lives in the loss / predict_proba
}

# Allowed keys of each layer type and their defaults; anything else is an error.
LAYER_PARAMS: dict[str, dict[str, object]] = {
    "dense": {"units": None, "activation": "linear", "trainable": True},
    "conv2d": {
        "filters": None, "kernel_size": 3, "strides": 1, "padding": "valid", "activation": "linear", "trainable": True,
        "kernel_initializer": "glorot_uniform",
    },
    "maxpool2d": {"pool_size": 2},
    "flatten": {},
    "dropout": {"rate": None},
    "batchnorm": {"momentum": 0.99},  # Keras's: moving = momentum * moving + (1 - momentum) * batch
    "activation": {"activation": None},
}

KERAS_BN_EPSILON = 1e-3

# "pca" filters are the principal directions of the training images' patches (models/data_init.py).
KERNEL_INITIALIZERS = ("glorot_uniform", "pca")


class _FlattenChannelsLast(torch.autograd.Function):
    """Flatten in (C, H, W) order, handing the gradient back channels-last like the input."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.shape = x.shape
        return x.flatten(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.reshape(ctx.shape).contiguous(memory_format=torch.channels_last)


class Flatten(nn.Flatten):
    """``nn.Flatten`` that, in training, returns a channels-last input's gradient channels-last.

    A plain flatten hands the layers before it an NCHW gradient while their saved activations
    are channels-last, and elementwise backward ops on mixed layouts take a slow path (relu's
    backward on 256x64x5x5: 1.2 ms against 0.07 ms, see docs/speed-notes.md).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
        if self.training and x.requires_grad and mixed:
            return _FlattenChannelsLast.apply(x)
        return super().forward(x)


@dataclass(frozen=True)
class BuiltLayer:
    """One spec layer: its Keras-style name, its module and its output shape (without batch)."""

    name: str
    module: nn.Module
    output_shape: tuple[int, ...]


def normalize_spec(spec: dict, index: int) -> dict:
    """Fill defaults and reject unknown types, unknown keys and missing values."""
    if not isinstance(spec, dict) or "type" not in spec:
        raise MnistlabError(f"layer {index} must be a table with a 'type', got {spec!r}")
    kind = spec["type"]
    if kind not in LAYER_PARAMS:
        raise MnistlabError(f"layer {index}: unknown type '{kind}'; choose one of {', '.join(LAYER_PARAMS)}")
    allowed = LAYER_PARAMS[kind]
    unknown = sorted(set(spec) - set(allowed) - {"type"})
    if unknown:
        raise MnistlabError(
            f"layer {index} ({kind}): unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed) or 'none'}"
        )
    full = {"type": kind, **allowed, **{k: v for k, v in spec.items() if k != "type"}}
    missing = [k for k, v in full.items() if v is None]
    if missing:
        raise MnistlabError(f"layer {index} ({kind}): missing {', '.join(missing)}")
    if "activation" in full and full["activation"] not in ACTIVATIONS:
        raise MnistlabError(
            f"layer {index} ({kind}): unknown activation '{full['activation']}'; choose one of {', '.join(ACTIVATIONS)}"
        )
    for key in ("units", "filters", "kernel_size", "strides", "pool_size"):
        if key in full and (not is_whole_number(full[key]) or full[key] < 1):
            raise MnistlabError(f"layer {index} ({kind}): {key} must be a positive integer, got {full[key]!r}")
    if "trainable" in full and not isinstance(full["trainable"], bool):
        raise MnistlabError(f"layer {index} ({kind}): trainable must be true or false, got {full['trainable']!r}")
    if "kernel_initializer" in full and full["kernel_initializer"] not in KERNEL_INITIALIZERS:
        raise MnistlabError(
            f"layer {index} ({kind}): unknown kernel_initializer {full['kernel_initializer']!r}; "
            f"choose one of {', '.join(KERNEL_INITIALIZERS)}"
        )
    if "rate" in full and not 0 <= float(full["rate"]) < 1:
        raise MnistlabError(f"layer {index} (dropout): rate must lie in [0, 1), got {full['rate']}")
    return full


def _with_activation(core: nn.Module, activation: str) -> nn.Module:
    return core if activation in ("linear", "softmax") else nn.Sequential(core, ACTIVATIONS[activation]())


def _glorot_zero(module: nn.Module) -> None:
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)


class StridedSameConv2d(nn.Conv2d):
    """A convolution with strides > 1 and Keras's "same" padding, which torch's ``padding="same"`` refuses:
    the output side is ceil(side / stride), and an odd pixel of padding goes after (bottom / right)."""

    def __init__(self, channels: int, filters: int, kernel: int, stride: int, height: int, width: int) -> None:
        super().__init__(channels, filters, kernel, stride=stride)
        self.pads = (*self._split(width, kernel, stride), *self._split(height, kernel, stride))  # F.pad's order: left, right, top, bottom

    @staticmethod
    def _split(side: int, kernel: int, stride: int) -> tuple[int, int]:
        total = max((-(-side // stride) - 1) * stride + kernel - side, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.nn.functional.pad(x, self.pads))


def build_layer(spec: dict, shape: tuple[int, ...], index: int) -> tuple[nn.Module, tuple[int, ...]]:
    """The module for one normalized spec and its output shape, given its input shape."""
    kind = spec["type"]
    where = f"layer {index} ({kind})"
    if kind == "dense":
        if len(shape) != 1:
            raise MnistlabError(f"{where} needs flat input but gets {shape}; add {{type = 'flatten'}} before it")
        module = _with_activation(Dense(shape[0], int(spec["units"])), spec["activation"])
        out = (int(spec["units"]),)
    elif kind in ("conv2d", "maxpool2d") and len(shape) != 3:
        raise MnistlabError(f"{where} needs image input (channels, height, width) but gets {shape}")
    elif kind == "conv2d":
        k, stride, padding = int(spec["kernel_size"]), int(spec["strides"]), spec["padding"]
        if padding not in ("valid", "same"):
            raise MnistlabError(f"{where}: padding must be 'valid' or 'same', got '{padding}'")
        if spec["kernel_initializer"] == "pca" and (spec["filters"] % 2 or spec["filters"] > 2 * shape[0] * k * k):
            raise MnistlabError(
                f"{where}: kernel_initializer 'pca' makes two filters (+ and -) per principal direction of the "
                f"{k}x{k} patches, so filters must be even and at most {2 * shape[0] * k * k}; got {spec['filters']}"
            )
        if padding == "same" and stride > 1:
            conv = StridedSameConv2d(shape[0], int(spec["filters"]), k, stride, shape[1], shape[2])
        else:
            conv = nn.Conv2d(shape[0], int(spec["filters"]), k, stride=stride, padding=padding)
        module = _with_activation(conv, spec["activation"])
        side = (lambda n: -(-n // stride)) if padding == "same" else (lambda n: (n - k) // stride + 1)
        out = (int(spec["filters"]), side(shape[1]), side(shape[2]))
    elif kind == "maxpool2d":
        p = int(spec["pool_size"])
        module, out = nn.MaxPool2d(p), (shape[0], shape[1] // p, shape[2] // p)
    elif kind == "flatten":
        module, out = Flatten(), (math.prod(shape),)
    elif kind == "dropout":
        module, out = nn.Dropout(float(spec["rate"])), shape
    elif kind == "batchnorm":
        norm = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
        momentum = float(spec["momentum"])
        if not 0 <= momentum < 1:
            raise MnistlabError(f"{where}: momentum must lie in [0, 1), got {momentum}")
        module, out = norm(shape[0], eps=KERAS_BN_EPSILON, momentum=1 - momentum), shape  # torch counts the other way
    else:  # activation
        module, out = _with_activation(nn.Identity(), spec["activation"]), shape
    if min(out) <= 0:
        raise MnistlabError(f"{where}: the image is too small for this layer (input {shape}, output {out})")
    _glorot_zero(module)
    if not spec.get("trainable", True):  # Keras's trainable=False: the initial weights stay as they are
        module.requires_grad_(False)
    return module, out
