"""The notebooks' models by name, as layer specs, with the parameter counts their Keras summaries show."""

from __future__ import annotations

import re
from dataclasses import dataclass

from typing import TYPE_CHECKING

from mnistlab.errors import MnistlabError

if TYPE_CHECKING:
    from mnistlab.models.network import Network


def dense(units: int, activation: str = "linear") -> dict:
    return {"type": "dense", "units": units, "activation": activation}


def conv(filters: int, activation: str = "linear") -> dict:
    return {"type": "conv2d", "filters": filters, "kernel_size": 3, "activation": activation}


POOL = {"type": "maxpool2d", "pool_size": 2}
FLATTEN = {"type": "flatten"}
BN = {"type": "batchnorm"}
RELU = {"type": "activation", "activation": "relu"}
SOFTMAX_10 = dense(10, "softmax")


def dropout(rate: float) -> dict:
    return {"type": "dropout", "rate": rate}


@dataclass(frozen=True)
class ZooModel:
    """A named model: its layers, where it comes from, and its parameter count for 28x28 images and
    10 classes as its notebook's Keras summary prints it (the last layer is sized per dataset)."""

    name: str
    description: str
    layers: list[dict]
    params: int


ZOO: dict[str, ZooModel] = {
    m.name: m
    for m in (
        ZooModel("mlp-64-tanh", "64 tanh -> 10 softmax (notebook 000, model_1)", [dense(64, "tanh"), SOFTMAX_10], 50_890),
        ZooModel("mlp-64-32-tanh", "64-32 tanh MLP (notebook 000, model_2)", [dense(64, "tanh"), dense(32, "tanh"), SOFTMAX_10], 52_650),
        ZooModel("mlp-64-32-relu", "64-32 relu MLP (notebook 000, model_3)", [dense(64, "relu"), dense(32, "relu"), SOFTMAX_10], 52_650),
        ZooModel("mlp-512", "512 relu MLP (notebook 001, from Deep Learning with Python 2.1)", [dense(512, "relu"), SOFTMAX_10], 407_050),
        ZooModel(
            "cnn",
            "conv32-pool-conv64-pool-conv64-dense64 CNN (notebook 001, from Deep Learning with Python 5.1)",
            [conv(32, "relu"), POOL, conv(64, "relu"), POOL, conv(64, "relu"), FLATTEN, dense(64, "relu"), SOFTMAX_10],
            93_322,
        ),
        ZooModel("mlp-512-512", "512-512 relu MLP (notebook 002)", [dense(512, "relu"), dense(512, "relu"), SOFTMAX_10], 669_706),
        ZooModel(
            "mlp-512-512-dropout",
            "512-512 relu MLP with dropout 0.2 after each hidden layer (notebook 003)",
            [dense(512, "relu"), dropout(0.2), dense(512, "relu"), dropout(0.2), SOFTMAX_10],
            669_706,
        ),
        ZooModel(
            "cnn-bn",
            "batch-norm CNN: (conv-bn-relu)x2, pool, (conv-bn-relu)x2, pool, dense512-bn-relu-dropout (notebook 003)",
            [
                conv(32), BN, RELU, conv(32), BN, RELU, POOL,
                conv(64), BN, RELU, conv(64), BN, RELU, POOL,
                FLATTEN, dense(512), BN, RELU, dropout(0.2), SOFTMAX_10,
            ],
            597_738,
        ),
        ZooModel(
            "mlp-128-64-32",
            "dense128 (linear) -> 64 relu -> 32 relu -> 10 (notebook 004, Fashion-MNIST and digits)",
            [dense(128), dense(64, "relu"), dense(32, "relu"), SOFTMAX_10],
            111_146,
        ),
        ZooModel(
            "mlp-128-64-32-dropout",
            "the notebook 004 MLP with one dropout 0.1 between its 64 and 32 layers (exercise 5's answer)",
            [dense(128), dense(64, "relu"), dropout(0.1), dense(32, "relu"), SOFTMAX_10],
            111_146,
        ),
    )
}


# Any MLP by its name's shape, as the notebooks name theirs: mlp-<units>[-<units>...]-<activation>.
MLP_NAME = re.compile(r"mlp((?:-[1-9][0-9]{0,4})+)-(relu|tanh|sigmoid)")


def zoo_model(name: str) -> ZooModel:
    """A named model: one of the zoo's, or an MLP named by its shape, such as ``mlp-128-64-relu``.

    >>> zoo_model("mlp-128-64-relu").params
    109386
    """
    if name in ZOO:
        return ZOO[name]
    shape = MLP_NAME.fullmatch(name)
    if shape is None:
        raise MnistlabError(
            f"unknown model '{name}'; choose one of {', '.join(ZOO)} (see `mnistlab models`), "
            "or name an MLP by its shape, such as mlp-128-64-relu"
        )
    widths = [int(w) for w in shape.group(1).strip("-").split("-")]
    sizes = [28 * 28, *widths, 10]
    params = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    layers = [dense(w, shape.group(2)) for w in widths] + [SOFTMAX_10]
    return ZooModel(name, f"{'-'.join(map(str, widths))} {shape.group(2)} MLP, named by its shape", layers, params)


def input_shape_for(layers: list[dict], image_shape: tuple[int, int], channels: int = 1) -> tuple[int, ...]:
    """Flat input for a network whose first layer is dense, (C, H, W) otherwise."""
    h, w = image_shape
    return (channels * h * w,) if layers and layers[0].get("type") == "dense" else (channels, h, w)


def image_shape_for(input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(H, W) of the images a network reads: from (C, H, W), or from a flat input of a square image."""
    if len(input_shape) == 3:
        return input_shape[1], input_shape[2]
    side = int(round(input_shape[0] ** 0.5))
    if side * side != input_shape[0]:
        raise MnistlabError(f"this network takes {input_shape[0]} flat inputs, which are not a square image")
    return side, side


def with_classes(layers: list[dict], num_classes: int) -> list[dict]:
    """The layers with the final dense layer sized to ``num_classes``."""
    *body, last = layers
    return [*body, {**last, "units": num_classes}]


def build_model(
    model: str | list[dict],
    image_shape: tuple[int, int] = (28, 28),
    num_classes: int = 10,
) -> Network:
    """A fresh network: a zoo name or a list of layer specs, sized for the images and classes.

    Examples
    --------
    >>> net = build_model("cnn")
    >>> sum(p.numel() for p in net.parameters())
    93322
    """
    from mnistlab.models.network import Network

    if isinstance(model, str):
        layers = with_classes(zoo_model(model).layers, num_classes)
    else:
        layers = list(model)
        units = layers[-1].get("units") if layers and isinstance(layers[-1], dict) else None
        if units is not None and units != num_classes:
            raise MnistlabError(
                f"the last layer has {units} units but the dataset has {num_classes} classes; make them equal"
            )
    return Network(layers, input_shape_for(layers, image_shape))
