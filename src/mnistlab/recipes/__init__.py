"""Recipes: one TOML file per experiment of the five seed notebooks, with the number each printed.

A recipe is named after its notebook's file (``000-…`` for ``000_36319545204c081d.txt``)::

    description = "..."
    notebook = "000_36319545204c081d.txt"   # the seed notebook the settings come from
    settings_from = "the cells that set them, quoted"
    kind = "notebook"   # or "speed" (mnistlab's own fast recipes), "best" (its most accurate: ``mnistlab accuracy``),
                        # "exercise", "sweep" (below) or "tuned" (a sweep's best)

    [train]             # TrainConfig fields: dataset, model, optimizer, epochs, batch_size, ...

    [reference]         # what the notebook reported, to compare with
    test_accuracy = 0.9171            # optional, as are train_accuracy, train_loss, test_loss
    source = "printed"                # printed (a cell's output) | prose (its text) | none | target
    cell = "where in the notebook"
    quote = "the words or output, verbatim"
    reading = "how the number was read"
    secondary = [{ test_accuracy = 0.9160, where = "another copy of the notebook" }]
    ensemble_accuracy = 0.998         # a "best" recipe's target for the ensemble of its seeds

An exercise compares recipes in the notebook's own table and has no ``[train]``::

    kind = "exercise"
    members = ["004-fashion-mlp", "004-fashion-mlp-dropout"]
    labels = ["N", "Y"]     # each member's row label in that table
    table = "dropout"       # which table: dropout | batch-size

A sweep is a recipe with a ``[sweep]`` table (its search space: sweeps/space.py) whose ``[train]``
may leave ``$name`` placeholders for the sweep to fill in; ``kind = "sweep"`` marks one that is
only run by ``mnistlab sweep``. Any other recipe may carry a ``[sweep]`` table too.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from mnistlab.checks import is_number
from mnistlab.config import TrainConfig
from mnistlab.errors import MnistlabError

RECIPE_DIR = Path(__file__).parent
KINDS = ("notebook", "speed", "best", "exercise", "sweep", "tuned")  # tuned: a sweep's best configuration
SOURCES = ("printed", "prose", "none", "target")
EXERCISE_TABLES = ("dropout", "batch-size")
RECIPE_KEYS = {"description", "notebook", "settings_from", "kind", "train", "reference", "members", "labels", "table", "sweep"}
REFERENCE_KEYS = {"test_accuracy", "test_loss", "train_accuracy", "train_loss", "source", "cell", "quote", "reading", "secondary",
                  "ensemble_accuracy"}

# Recipes named after the notebooks' order in an earlier layout: the old names keep working.
RENAMED = {
    "nb1-mlp-64-tanh": "000-mlp-64-tanh",
    "nb1-mlp-64-32-tanh": "000-mlp-64-32-tanh",
    "nb1-mlp-64-32-relu": "000-mlp-64-32-relu",
    "nb2-mlp-512": "001-mlp-512",
    "nb2-cnn": "001-cnn",
    "nb4-mlp-512-512-dropout": "003-mlp-512-512-dropout",
    "nb4-cnn-bn-augmented": "003-cnn-bn-augmented",
    "nb5-fashion-mlp": "004-fashion-mlp",
    "nb5-fashion-mlp-dropout": "004-fashion-mlp-dropout",
    "nb5-digits-mlp": "004-digits-mlp",
}
RETIRED = {
    "nb3-mlp-512-512-dropout": "it followed a notebook that is not one of the five seed notebooks; "
    "the nearest is 003-mlp-512-512-dropout",
}


@dataclass(frozen=True)
class SecondaryReference:
    """A number from another copy of the notebook: shown beside ours, never the verdict's basis."""

    test_accuracy: float
    where: str


@dataclass(frozen=True)
class Reference:
    """What a notebook reported for one experiment, and where."""

    source: str = "none"
    cell: str = ""
    quote: str = ""
    reading: str = ""
    test_accuracy: float | None = None
    test_loss: float | None = None
    train_accuracy: float | None = None  # the last epoch's running training accuracy, as Keras's history holds it
    train_loss: float | None = None
    secondary: tuple[SecondaryReference, ...] = ()
    ensemble_accuracy: float | None = None  # a target for the ensemble of the recipe's seeds


@dataclass(frozen=True)
class Recipe:
    """A named experiment: its settings (or, for an exercise, its member recipes) and its reference."""

    name: str
    description: str
    notebook: str
    settings_from: str
    kind: str
    config: TrainConfig | None
    reference: Reference = field(default_factory=Reference)
    settings: dict = field(default_factory=dict)  # the [train] table as written, before defaults are filled in
    members: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    table: str | None = None
    sweep: dict | None = None  # the [sweep] table as written, checked by sweeps.space.parse_space

    @property
    def notebook_number(self) -> str:
        """The seed notebook's number (``004`` for ``004_e1a69a385d39219c.txt``), or '' for mnistlab's own."""
        return self.notebook.split("_", 1)[0] if self.notebook else ""


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPE_DIR.glob("*.toml"))


def canonical_name(name: str) -> str:
    """The current name of a built-in recipe, given a current or renamed one."""
    if name in RETIRED:
        raise MnistlabError(f"recipe '{name}' was retired: {RETIRED[name]}")
    return RENAMED.get(name, name)


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A built-in recipe by name, or a recipe TOML file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = RECIPE_DIR / f"{canonical_name(str(name_or_path))}.toml"
        if not path.is_file():
            raise MnistlabError(f"unknown recipe '{name_or_path}'; choose one of {', '.join(recipe_names())} or give a .toml path")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MnistlabError(f"recipe {path} is not readable TOML ({exc})") from None
    where = f"recipe {path}"
    _check_keys(data, RECIPE_KEYS, where)
    kind = data.get("kind", "notebook")
    if kind not in KINDS:
        raise MnistlabError(f"{where}: kind must be one of {', '.join(KINDS)}, got '{kind}'")
    common = {
        "name": path.stem,
        "description": data.get("description", ""),
        "notebook": data.get("notebook", ""),
        "settings_from": data.get("settings_from", ""),
        "kind": kind,
    }
    if kind == "exercise":
        return Recipe(**common, config=None, **_exercise(data, where))
    if "train" not in data:
        raise MnistlabError(f"{where} has no [train] table")
    sweep = data.get("sweep")
    if kind == "sweep":
        if sweep is None:
            raise MnistlabError(f"{where}: a sweep recipe needs a [sweep] table")
        return Recipe(**common, config=None, settings=data["train"], sweep=sweep)
    config = TrainConfig.from_dict({"name": path.stem, **data["train"]}, where=f"{where} [train]")
    reference = _reference(data.get("reference", {}), f"{where} [reference]")
    return Recipe(**common, config=config, reference=reference, settings=data["train"], sweep=sweep)


def _check_keys(data: object, allowed: set[str], where: str) -> None:
    if not isinstance(data, dict):
        raise MnistlabError(f"{where} must be a table, got {data!r}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise MnistlabError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _reference(data: dict, where: str) -> Reference:
    _check_keys(data, REFERENCE_KEYS, where)
    source = data.get("source", "none")
    if source not in SOURCES:
        raise MnistlabError(f"{where}: source must be one of {', '.join(SOURCES)}, got '{source}'")
    for key in ("test_accuracy", "train_accuracy", "ensemble_accuracy"):
        value = data.get(key)
        if value is not None and not (is_number(value) and 0 <= value <= 1):
            raise MnistlabError(f"{where}: {key} must be a fraction in [0, 1], got {value!r}")
    if source == "none" and data.get("test_accuracy") is not None:
        raise MnistlabError(f"{where}: a test_accuracy needs a source (printed, prose or target), not 'none'")
    secondary = []
    for item in data.get("secondary", []):
        _check_keys(item, {"test_accuracy", "where"}, f"{where} secondary")
        secondary.append(SecondaryReference(float(item["test_accuracy"]), str(item.get("where", ""))))
    values = {k: data[k] for k in REFERENCE_KEYS - {"secondary"} if k in data}
    return Reference(**values, secondary=tuple(secondary))


def _exercise(data: dict, where: str) -> dict:
    members, labels, table = data.get("members", []), data.get("labels", []), data.get("table")
    if not members or len(labels) != len(members):
        raise MnistlabError(f"{where}: an exercise needs members and one label per member")
    if table not in EXERCISE_TABLES:
        raise MnistlabError(f"{where}: table must be one of {', '.join(EXERCISE_TABLES)}, got {table!r}")
    if "train" in data or "reference" in data:
        raise MnistlabError(f"{where}: an exercise has no [train] or [reference]; its members do")
    for member in members:
        load_recipe(member)
    return {"members": tuple(members), "labels": tuple(map(str, labels)), "table": table}


def list_recipes(kind: str | None = None) -> list[Recipe]:
    """All built-in recipes, or those of one ``kind``."""
    return [r for r in (load_recipe(name) for name in recipe_names()) if kind is None or r.kind == kind]


def trained_recipes(recipes: list[Recipe]) -> list[Recipe]:
    """The recipes to train: each one given (a .toml path's as it was read), an exercise's members in its place, each once."""
    chosen: dict[str, Recipe] = {}
    for recipe in recipes:
        for member in [load_recipe(name) for name in recipe.members] or [recipe]:
            chosen.setdefault(member.name, member)
    return list(chosen.values())


def reference_accuracy(recipe: Recipe) -> tuple[float | None, str]:
    """The number a reproduction is measured against, and what it is: the notebook's own, else another copy's."""
    ref = recipe.reference
    if ref.test_accuracy is not None:
        return ref.test_accuracy, ref.source
    if ref.secondary:
        return ref.secondary[0].test_accuracy, "other copy"
    return None, "none"


def trainable(recipe: Recipe) -> TrainConfig:
    """The recipe's config; an exercise or a sweep has none and says how to run it instead."""
    if recipe.kind == "sweep":
        raise MnistlabError(f"'{recipe.name}' is a sweep over several settings; run it with `mnistlab sweep {recipe.name}`")
    if recipe.config is None:
        raise MnistlabError(
            f"'{recipe.name}' is an exercise comparing {', '.join(recipe.members)}; "
            f"train one of those, or run `mnistlab reproduce {recipe.name}` for its table"
        )
    return recipe.config
