"""mnistlab: the classic Keras MNIST notebooks as one reproducible tool.

The Python API in five calls::

    from mnistlab import TrainConfig, load_dataset, build_model, summary, train, evaluate
    dataset = load_dataset("mnist")                    # or "fashion-mnist", "digits", a folder/.csv/.npz
    print(summary(build_model("cnn")))                 # Keras-style table, 93,322 parameters
    run = train(TrainConfig(model="cnn", epochs=5))    # saves runs/<time>-cnn/
    evaluate(run)                                      # {"test_loss": ..., "test_accuracy": ...}
    train_and_report(TrainConfig(model="cnn"))         # the same, plus decision thresholds and report.html

The names are imported on first use, so that ``import mnistlab`` (and the CLI's ``--help``)
does not load torch.
"""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import version

__version__ = version("mnistlab")  # pyproject.toml's

_HOMES = {
    "TrainConfig": "mnistlab.config",
    "MnistlabError": "mnistlab.errors",
    "Dataset": "mnistlab.data.dataset",
    "load_dataset": "mnistlab.data.loaders",
    "to_tensors": "mnistlab.data.preprocess",
    "evaluate": "mnistlab.evaluation.evaluate",
    "train_and_report": "mnistlab.workflow",
    "train": "mnistlab.runs.train",
    "ZOO": "mnistlab.models.zoo",
    "Network": "mnistlab.models.network",
    "build_model": "mnistlab.models.zoo",
    "count_params": "mnistlab.models.summary",
    "summary": "mnistlab.models.summary",
    "Recipe": "mnistlab.recipes",
    "list_recipes": "mnistlab.recipes",
    "load_recipe": "mnistlab.recipes",
    "Run": "mnistlab.runs.store",
    "list_runs": "mnistlab.runs.store",
    "load_run": "mnistlab.runs.store",
    "run_sweep": "mnistlab.sweeps",
    "predict": "mnistlab.prediction.predictor",
    "Predictions": "mnistlab.prediction.predictor",
    "compare": "mnistlab.evaluation.compare",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'mnistlab' has no attribute '{name}'")
    return getattr(importlib.import_module(_HOMES[name]), name)


def __dir__() -> list[str]:
    return [*globals(), *__all__]


DISPLAYS = {  # class (module, name) -> its HTML in mnistlab.notebook.display
    ("mnistlab.data.dataset", "Dataset"): "dataset_html",
    ("mnistlab.models.network", "Network"): "network_html",
    ("mnistlab.runs.store", "Run"): "run_html",
    ("mnistlab.evaluation.compare", "Comparison"): "comparison_html",
    ("mnistlab.sweeps.report", "SweepReport"): "sweep_html",
    ("mnistlab.prediction.predictor", "Predictions"): "predictions_html",
}


def _register_displays() -> None:
    """In IPython, show mnistlab's objects as HTML; by class name, so nothing heavy is imported until one is shown."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return
    html = shell.display_formatter.formatters["text/html"]
    for (module, name), function in DISPLAYS.items():
        html.for_type_by_name(module, name, lambda obj, function=function: getattr(importlib.import_module("mnistlab.notebook.display"), function)(obj))


_register_displays()
