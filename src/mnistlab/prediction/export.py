"""Export a run to ONNX, with the input contract written into the file's metadata."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import torch

from mnistlab.atomic import write_with
from mnistlab.models.network import Network
from mnistlab.prediction.engines import ONNX_FILE
from mnistlab.runs.store import Run
from mnistlab.tables import fixed

INPUT_NAME = "images"


class ExportedNetwork(torch.nn.Module):
    """The network with its softmax, returning (probabilities, features)."""

    def __init__(self, network: Network) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, features = self.network.logits_and_features(images)
        return torch.softmax(logits, dim=1), features


def input_contract(network: Network) -> str:
    shape = "(N, " + ", ".join(map(str, network.input_shape)) + ")"
    return (
        f"input '{INPUT_NAME}': float32 {shape}, values in [0, 1] (pixel / 255), white ink on a black background, "
        "prepared as MNIST was: the glyph scaled to fit a 20x20 box keeping its aspect ratio, placed in 28x28 "
        "with its centre of mass at the centre (mnistlab.prediction.prepare.prepare_image does this). "
        "Outputs: 'probabilities' (N, classes) softmax; 'features' (N, D) for the typicality check (the last hidden layer)."
    )


def export_onnx(run: Run, out: str | Path | None = None) -> Path:
    """Write ``RUN/model.onnx`` (or ``out``) and return its path."""
    import onnx

    path = Path(out) if out is not None else run.path / ONNX_FILE
    network = run.network.cpu().eval()
    example = torch.zeros(2, *network.input_shape)
    batch = torch.export.Dim("batch")
    quiet = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            program = torch.onnx.export(
                ExportedNetwork(network), (example,), input_names=[INPUT_NAME], output_names=["probabilities", "features"],
                dynamic_shapes={"images": {0: batch}}, dynamo=True, verbose=False,
            )
        finally:
            logging.disable(logging.NOTSET)
    model = program.model_proto
    metadata = {
        "mnistlab_input_contract": input_contract(network),
        "mnistlab_class_names": ",".join(run.class_names),
        "mnistlab_dataset": run.config.dataset,
        "mnistlab_test_accuracy": fixed(run.metrics['test_accuracy']),
    }
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    write_with(path, lambda tmp: onnx.save_model(model, str(tmp)))
    return path
