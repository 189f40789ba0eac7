"""Recipes: one TOML file per notebook experiment, carrying the number its notebook printed.

A recipe file::

    description = "..."
    notebook = "where the experiment comes from"
    kind = "notebook"  # or "speed": mnistlab's own fast recipes, left out of `reproduce` by default

    [train]            # TrainConfig fields: dataset, model, optimizer, epochs, batch_size, ...

    [expected]         # what the notebook printed, to compare with
    test_accuracy = 0.9777
    printed = "test_acc: 0.9777"
    reading = "how that figure was read from the notebook"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from mnistlab.config import TrainConfig
from mnistlab.errors import MnistlabError

RECIPE_DIR = Path(__file__).parent
RECIPE_KEYS = {"description", "notebook", "kind", "train", "expected"}
KINDS = ("notebook", "speed")  # a notebook's experiment, or one of mnistlab's own speed recipes


@dataclass(frozen=True)
class Recipe:
    """A named, reproducible experiment and the accuracy its notebook reported."""

    name: str
    description: str
    notebook: str
    kind: str
    config: TrainConfig
    expected_accuracy: float | None
    printed: str
    reading: str


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPE_DIR.glob("*.toml"))


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A built-in recipe by name, or a recipe TOML file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = RECIPE_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise MnistlabError(f"unknown recipe '{name_or_path}'; choose one of {', '.join(recipe_names())} or give a .toml path")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MnistlabError(f"recipe {path} is not readable TOML ({exc})") from None
    unknown = sorted(set(data) - RECIPE_KEYS)
    if unknown:
        raise MnistlabError(f"recipe {path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(RECIPE_KEYS))}")
    if "train" not in data:
        raise MnistlabError(f"recipe {path} has no [train] table")
    kind = data.get("kind", "notebook")
    if kind not in KINDS:
        raise MnistlabError(f"recipe {path}: kind must be one of {', '.join(KINDS)}, got '{kind}'")
    config = TrainConfig.from_dict({"name": path.stem, **data["train"]}, where=f"recipe {path} [train]")
    expected = data.get("expected", {})
    return Recipe(
        name=path.stem,
        description=data.get("description", ""),
        notebook=data.get("notebook", ""),
        kind=kind,
        config=config,
        expected_accuracy=expected.get("test_accuracy"),
        printed=expected.get("printed", ""),
        reading=expected.get("reading", ""),
    )


def list_recipes(kind: str | None = None) -> list[Recipe]:
    """All built-in recipes, or those of one ``kind``."""
    return [r for r in (load_recipe(name) for name in recipe_names()) if kind is None or r.kind == kind]
