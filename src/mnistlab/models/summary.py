"""A Keras-style model summary: layer, output shape, parameters; total / trainable / non-trainable."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from mnistlab.models.ensemble import Ensemble
from mnistlab.models.network import Network


@dataclass(frozen=True)
class ParamCounts:
    trainable: int
    non_trainable: int

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable


def count_params(module: nn.Module) -> ParamCounts:
    """Trainable weights, and non-trainable state as Keras counts it (batch-norm moving mean/variance)."""
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in module.parameters() if not p.requires_grad)
    moving = sum(b.numel() for name, b in module.named_buffers() if name.rsplit(".", 1)[-1] in ("running_mean", "running_var"))
    return ParamCounts(trainable, frozen + moving)


KERAS_CLASS = {
    "dense": "Dense",
    "conv2d": "Conv2D",
    "maxpool2d": "MaxPooling2D",
    "flatten": "Flatten",
    "dropout": "Dropout",
    "batchnorm": "BatchNormalization",
    "activation": "Activation",
}


def summary_rows(network: Network | Ensemble) -> list[tuple[str, str, str]]:
    """(layer (type), output shape, params) per layer, as Keras prints them; an ensemble's, member by member."""
    if isinstance(network, Ensemble):
        return [(f"member {i}: {layer}", shape, params) for i, member in enumerate(network.members)
                for layer, shape, params in summary_rows(member)]
    return [
        (
            f"{layer.name} ({KERAS_CLASS[spec['type']]})",
            str((None, *layer.output_shape)),
            f"{count_params(layer.module).total:,}",
        )
        for layer, spec in zip(network.built, network.specs)
    ]


SUMMARY_HEADERS = ("Layer (type)", "Output Shape", "Param #")


def summary(network: Network | Ensemble, name: str = "sequential") -> str:
    """The summary as text, laid out like ``keras.Model.summary()``."""
    rows = summary_rows(network)
    widths = [max(len(h), *(len(r[i]) for r in rows)) + 2 for i, h in enumerate(SUMMARY_HEADERS)]
    line = "".join(h.ljust(w) for h, w in zip(SUMMARY_HEADERS, widths)).rstrip()
    rule = "─" * sum(widths)
    body = ["".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    counts = count_params(network)
    return "\n".join(
        [
            f'Model: "{name}"',
            rule,
            line,
            "━" * sum(widths),
            *body,
            rule,
            f"Total params: {counts.total:,}",
            f"Trainable params: {counts.trainable:,}",
            f"Non-trainable params: {counts.non_trainable:,}",
        ]
    )
