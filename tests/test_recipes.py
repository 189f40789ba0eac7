"""Recipes: every notebook experiment is present, loads, and carries the number its notebook printed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mnistlab import MnistlabError, list_recipes, load_recipe
from mnistlab.models.zoo import ZOO
from mnistlab.recipes.reproduce import Reproduction


def test_every_recipe_is_complete() -> None:
    recipes = list_recipes()
    assert len(recipes) >= 11
    for recipe in recipes:
        assert recipe.config.model in ZOO if recipe.kind == "notebook" else isinstance(recipe.config.model, list)
        assert recipe.expected_accuracy is None or 0.5 < recipe.expected_accuracy < 1
        assert recipe.printed and recipe.reading and recipe.notebook
    assert {r.name for r in recipes if r.kind == "speed"} == {"fast-99", "fast-995"}
    with_numbers = {r.name for r in recipes if r.expected_accuracy is not None}
    assert {"nb1-mlp-64-tanh", "nb1-mlp-64-32-tanh", "nb1-mlp-64-32-relu", "nb2-mlp-512", "nb2-cnn",
            "nb3-mlp-512-512-dropout", "nb4-mlp-512-512-dropout", "nb4-cnn-bn-augmented"} <= with_numbers


@pytest.mark.parametrize(("expected", "ours", "verdict"), [(0.98, 0.9751, True), (0.98, 0.9749, False), (0.98, 0.99, True), (None, 0.9, None)])
def test_tolerance_is_half_a_point_or_above(expected: float | None, ours: float, verdict: bool | None) -> None:
    recipe = dataclasses.replace(load_recipe("nb2-cnn"), expected_accuracy=expected)
    assert Reproduction(recipe, ours, 1, 1.0, 1, Path("run")).reproduced is verdict


def test_fashion_dropout_recipe_uses_early_stopping() -> None:
    stopper = load_recipe("nb5-fashion-mlp-dropout").config.stopper()
    assert (stopper.monitor, stopper.patience, stopper.restore_best_weights) == ("val_loss", 3, True)


def test_augmented_recipe_uses_notebook_ranges() -> None:
    augmentation = load_recipe("nb4-cnn-bn-augmented").config.augmentation()
    assert (augmentation.rotation, augmentation.shift, augmentation.shear, augmentation.zoom) == (8, 0.08, 0.3, 0.08)


def test_recipe_file_by_path_with_custom_layers(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(
        'description = "a custom stack"\n[train]\ndataset = "digits"\noptimizer = "adam"\n'
        'model = [{ type = "dense", units = 16, activation = "relu" }, { type = "dense", units = 10, activation = "softmax" }]\n'
    )
    recipe = load_recipe(str(path))
    assert recipe.name == "tiny" and recipe.config.model[0]["units"] == 16


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[train\n", "not readable TOML"),
        ('title = "x"\n[train]\n', "unknown key"),
        ('description = "x"\n', "no \\[train\\] table"),
        ('[train]\nepochz = 3\n', "unknown setting"),
    ],
)
def test_bad_recipe_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(MnistlabError, match=message):
        load_recipe(str(path))


def test_bad_kind(tmp_path: Path) -> None:
    path = tmp_path / "odd.toml"
    path.write_text('kind = "homework"\n[train]\n')
    with pytest.raises(MnistlabError, match="kind must be one of notebook, speed"):
        load_recipe(str(path))
