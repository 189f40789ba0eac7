"""``mnistlab notebook RUN_OR_RECIPE``: a runnable notebook that does, step by step, what the seed notebooks do.

Load, look, preprocess, build, fit, evaluate, plot, predict: each a cell of mnistlab's API with
the run's (or recipe's) own settings. Its first code cell, tagged ``parameters``, holds ``LIMIT``
and ``EPOCHS``, so a quick try (or a test) can run it on a slice.
"""

from __future__ import annotations

import pprint
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from mnistlab.atomic import write_text
from mnistlab.config import TrainConfig
from mnistlab.errors import MnistlabError
from mnistlab.recipes import Recipe, load_recipe, trainable
from mnistlab.runs.store import load_run

ALWAYS_SHOWN = ("name", "dataset", "model", "optimizer", "batch_size", "epochs", "validation")
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def readable_settings(config: TrainConfig) -> dict:
    """The settings that differ from what TrainConfig fills in by itself, plus the ones every reader looks for."""
    values = config.resolved().to_dict()
    defaults = TrainConfig(model=config.model, optimizer=config.optimizer, schedule=config.schedule, name=config.name).resolved().to_dict()
    return {k: v for k, v in values.items() if k in ALWAYS_SHOWN or (v != defaults[k] and k not in ("limit", "device", "precision"))}


def source_of(target: str) -> tuple[TrainConfig, str, Recipe | None]:
    """The config to write out, a line saying where it comes from, and the recipe when it is one."""
    path = Path(target)
    if path.is_dir():
        run = load_run(path)
        return run.config, f"the settings of the saved run `{path}` (its `config.json`)", None
    recipe = load_recipe(target)
    return trainable(recipe), f"the recipe `{recipe.name}` (`mnistlab recipes` lists them)", recipe


def cells(config: TrainConfig, origin: str, recipe: Recipe | None) -> list:
    settings = readable_settings(config)
    title = f"# {config.name or config.model}: {settings['model'] if isinstance(settings['model'], str) else 'a custom model'} on {config.dataset}"
    intro = [title, "", f"Written by `mnistlab notebook` from {origin}."]
    if recipe is not None and recipe.notebook:
        intro += ["", f"The settings come from the seed notebook `{recipe.notebook}`: {recipe.settings_from}"]
    return [
        new_markdown_cell("\n".join(intro)),
        new_code_cell(f"LIMIT = None  # train on the first LIMIT training images only; None: all of them\nEPOCHS = {config.epochs}",
                      metadata={"tags": ["parameters"]}),
        new_code_cell("from mnistlab import TrainConfig, build_model, evaluate, load_dataset, to_tensors, train"),
        new_markdown_cell("## Load the data\n\nThe canonical files, found locally or downloaded once (checked by their hashes)."),
        new_code_cell(f"dataset = load_dataset({config.dataset!r})\ndataset"),
        new_markdown_cell("## Look at it\n\nShapes, pixel range and the labels of the first images, as the notebooks print them."),
        new_code_cell("print(dataset.x_train.shape, dataset.x_train.dtype, dataset.x_train.min(), dataset.x_train.max())\n"
                      "print(dataset.y_train[:10], [dataset.class_names[y] for y in dataset.y_train[:10]])"),
        new_markdown_cell("## Build the model\n\nThe same layers, initializers and parameter counts as the Keras model."),
        new_code_cell(f"model = build_model({settings['model']!r})\nmodel"),
        new_markdown_cell("## Preprocess\n\nScaled to 0-1, flattened for an MLP or kept as images for a CNN; the labels stay integers "
                          "(the loss is categorical cross-entropy on them, as on Keras's one-hot rows)."),
        new_code_cell(f"data = to_tensors(dataset, flat=model.flat_input, validation={config.validation!r}, seed={config.holdout_seed})\n"
                      "print(data.x_train.shape, data.x_train.dtype, float(data.x_train.min()), float(data.x_train.max()))\n"
                      "print('validation:', None if data.x_val is None else tuple(data.x_val.shape))"),
        new_markdown_cell("## Fit\n\nThe progress bar and the curves update in this cell; the run is saved as a folder under `runs/`."),
        new_code_cell(f"SETTINGS = {pprint.pformat(settings, sort_dicts=False, width=100)}\n"
                      "config = TrainConfig.from_dict({**SETTINGS, 'epochs': EPOCHS, 'limit': LIMIT})\n"
                      "run = train(config, dataset=dataset)"),
        new_markdown_cell("## Evaluate\n\nLoss and accuracy on the test set, as `model.evaluate` returns them."),
        new_code_cell("evaluate(run)"),
        new_markdown_cell("## Plot\n\nThe curves, the confusion matrix and the worst mistakes."),
        new_code_cell("run"),
        new_markdown_cell("## Predict\n\nThe first test images, with the decision rule: a class, or *unsure* and why. "
                          "Raising the confidence threshold answers fewer, more surely."),
        new_code_cell("predictions = run.predict(dataset.x_test[:12])\npredictions"),
        new_code_cell("strict = run.predict(dataset.x_test[:200], confidence=0.99)\n"
                      "answered = strict.answered\n"
                      "print(f'answered {answered.sum()} of {len(strict)}; accuracy on those: '\n"
                      "      f'{(strict.classes[answered] == dataset.y_test[:200][answered]).mean():.3f}')"),
    ]


def write_notebook(target: str, out: str | Path | None = None) -> Path:
    """Write the notebook for a run folder or a recipe; returns its path (default ``NAME.ipynb`` here)."""
    config, origin, recipe = source_of(target)
    notebook = new_notebook(cells=cells(config, origin, recipe), metadata={"kernelspec": KERNEL, "language_info": {"name": "python"}})
    nbformat.validate(notebook)
    path = Path(out) if out else Path(f"{config.resolved().name}.ipynb")
    if path.suffix != ".ipynb":
        raise MnistlabError(f"{path}: a notebook file must end in .ipynb")
    write_text(path, nbformat.writes(notebook))
    return path
