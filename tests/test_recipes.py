"""Recipes: every notebook experiment is present, loads, and carries the number its notebook printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnistlab import MnistlabError, list_recipes, load_recipe
from mnistlab.models.zoo import ZOO


def test_every_recipe_is_complete() -> None:
    recipes = list_recipes()
    assert len(recipes) >= 11
    for recipe in recipes:
        assert recipe.config.model in ZOO
        assert 0.5 < recipe.expected_accuracy < 1
        assert recipe.printed and recipe.reading and recipe.notebook


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
