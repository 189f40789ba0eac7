"""The reproduction's statistics and tables: mean ± sd over seeds, the verdict, Keras beside ours.

A recipe reproduces its notebook when the notebook's number lies within our min–max over at
least ``RANGE_SEEDS`` seeds, or within ``TOLERANCE_PP`` percentage points of our mean. A target
(mnistlab's own recipes) is not a number to come near but one to reach: the mean must be at least it.
"""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scipy import stats

from mnistlab.atomic import write_text
from mnistlab.recipes import Recipe, load_recipe, reference_accuracy, trained_recipes
from mnistlab.tables import markdown_table, text_table

if TYPE_CHECKING:
    from mnistlab.recipes.reproduce import Reproduction, Trial

TOLERANCE_PP = 0.5
RANGE_SEEDS = 5
SIGNIFICANCE = 0.05
QUIET = 0.25  # cores other processes may keep busy while a trial is timed for its time to count as clean
BUSY_MARK = "†"
NOTEBOOK_TITLES = {
    "000": "MLP lab (Keras 2): 64 tanh, 64-32 tanh, 64-32 relu with sgd",
    "001": "Deep Learning with Python 2.1 + 5.1: the 512 MLP and the convnet, rmsprop",
    "002": "Supervised image classification: the 512-512 MLP with Keras's defaults",
    "003": "MNIST in Keras: the dropout MLP, its batch sizes, the batch-norm CNN with augmentation",
    "004": "Fashion-MNIST with TensorFlow (exercises 1-7): the MLP, its dropout table, the digits MLP",
}


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation and range of one figure over seeds."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def sd(self) -> float:
        return statistics.stdev(self.values) if self.n > 1 else 0.0

    def mean_sd(self, digits: int = 4, scale: float = 1.0) -> str:
        if not self.values:
            return "—"
        return f"{self.mean * scale:.{digits}f} ± {self.sd * scale:.{digits}f}"

    def range(self, digits: int = 4) -> str:
        return f"{min(self.values):.{digits}f}–{max(self.values):.{digits}f}" if self.values else "—"


def spread(trials: list[Trial], figure: str) -> Spread:
    return Spread(tuple(getattr(t, figure) for t in trials))


def points(a: float, b: float) -> float:
    """``a - b`` in percentage points, without the float error of a mean: 0.9171 - 0.9121 is 0.5, not 0.5000000000000004
    (an accuracy counts whole images, far coarser than the 6 decimals kept)."""
    return round((a - b) * 100, 6)


def target_verdict(target: float, accuracy: float) -> str:
    """Whether ``accuracy`` reaches ``target``, and otherwise by how many percentage points it falls short."""
    short = points(target, accuracy)
    digits = 2 if short >= 0.005 else 3  # one image in 5 seeds of 10,000 is 0.002 pp, never shown as "0.00"
    return f"yes: {target:.2%} reached" if short <= 0 else f"**no**: {short:.{digits}f} pp short of {target:.2%}"


def verdict(reference: float | None, ours: Spread, source: str = "printed") -> str:
    """Which of the two criteria held: 'in min–max', 'within 0.5 pp', both, or 'no'; 'n/a' without a number.

    A ``source="target"`` reference is reached when our mean is at least it, and missed otherwise, by so much.
    """
    if reference is None or not ours.values:
        return "n/a"
    if source == "target":
        return target_verdict(reference, ours.mean)
    held = []
    if ours.n >= RANGE_SEEDS and min(ours.values) <= reference <= max(ours.values):
        held.append("in min–max")
    if abs(points(ours.mean, reference)) <= TOLERANCE_PP:
        held.append(f"within {TOLERANCE_PP} pp of mean")
    return "yes: " + ", ".join(held) if held else "**no**"


def recipe_verdict(done: Reproduction, recipe: Recipe) -> str:
    """``verdict`` of our seeds of ``recipe`` against its reference."""
    reference, source = reference_accuracy(recipe)
    return verdict(reference, spread(done.trials(recipe, "mnistlab"), "test_accuracy"), source)


def welch_p(ours: Spread, theirs: Spread) -> float | None:
    """Welch's two-sample t-test p-value (unequal variances); None when either side has under 2 seeds or no spread."""
    if ours.n < 2 or theirs.n < 2 or (ours.sd == 0 and theirs.sd == 0):
        return None
    return float(stats.ttest_ind(ours.values, theirs.values, equal_var=False).pvalue)


def holm(p_values: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjustment of several p-values for the number of tests made together."""
    ordered = sorted(p_values, key=p_values.get)
    adjusted, running = {}, 0.0
    for rank, name in enumerate(ordered):
        running = max(running, min(1.0, (len(ordered) - rank) * p_values[name]))
        adjusted[name] = running
    return adjusted


def keras_p_values(done: Reproduction, recipes: list[Recipe]) -> dict[str, float]:
    """Welch's p for each recipe trained by both sides, adjusted by Holm's method over all of them."""
    raw = {}
    for recipe in recipes:
        p = welch_p(spread(done.trials(recipe, "mnistlab"), "test_accuracy"), spread(done.trials(recipe, "keras"), "test_accuracy"))
        if p is not None and not math.isnan(p):
            raw[recipe.name] = p
    return holm(raw)


def _p(value: float | None, adjusted: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    shown = f"**{value:.3f}**" if value < SIGNIFICANCE else f"{value:.3f}"
    return shown if adjusted is None else f"{shown} ({adjusted:.2f})"


def busy(others_busy: float | None) -> bool:
    """Whether a training was timed while other processes kept the machine busy, or without that recorded."""
    return others_busy is None or others_busy > QUIET


def timed_beside_work(trials: list[Trial]) -> bool:
    return any(busy(t.others_busy) for t in trials)


def _seconds(trials: list[Trial], digits: int = 1, sd: bool = False) -> str:
    if not trials:
        return "—"
    shown = spread(trials, "seconds").mean_sd(digits) if sd else f"{statistics.fmean(t.seconds for t in trials):.{digits}f}"
    return shown + (BUSY_MARK if timed_beside_work(trials) else "")


def _epochs(trials: list[Trial]) -> str:
    runs = sorted({t.epochs_run for t in trials})
    return "—" if not runs else str(runs[0]) if len(runs) == 1 else f"{runs[0]}–{runs[-1]}"


HEADERS = ["recipe", "notebook", "ours (mean ± sd)", "ours min–max", "seeds", "reproduces", "Keras (mean ± sd)", "Keras min–max",
           "Welch p (Holm)", "s per seed, ours / Keras", "epochs, ours / Keras"]


def recipe_row(done: Reproduction, recipe: Recipe, adjusted: dict[str, float], link: str | None = None) -> list[str]:
    """One recipe's row of HEADERS; ``adjusted`` holds the Holm-adjusted p-values (``keras_p_values``)."""
    ours, theirs = done.trials(recipe, "mnistlab"), done.trials(recipe, "keras")
    acc_ours, acc_theirs = spread(ours, "test_accuracy"), spread(theirs, "test_accuracy")
    reference, source = reference_accuracy(recipe)
    name = f"[{recipe.name}]({link})" if link else recipe.name
    return [
        name,
        "—" if reference is None else f"{reference:.4f} ({source})",
        acc_ours.mean_sd(), acc_ours.range(), str(acc_ours.n), recipe_verdict(done, recipe),
        acc_theirs.mean_sd(), acc_theirs.range(), _p(welch_p(acc_ours, acc_theirs), adjusted.get(recipe.name)),
        f"{_seconds(ours)} / {_seconds(theirs)}", f"{_epochs(ours)} / {_epochs(theirs)}",
    ]


def exercise_table(done: Reproduction, exercise: Recipe) -> tuple[list[str], list[list[str]]]:
    """The notebook's own table for an exercise, with the notebook's numbers (where it has them), ours and Keras's."""
    members = [load_recipe(name) for name in exercise.members]
    if exercise.table == "batch-size":
        headers = ["batch size", "training s, ours", "training s, Keras", "test accuracy, ours", "test accuracy, Keras"]
        rows = []
        for label, member in zip(exercise.labels, members):
            ours, theirs = done.trials(member, "mnistlab"), done.trials(member, "keras")
            rows.append([label, _seconds(ours, sd=True), _seconds(theirs, sd=True),
                         spread(ours, "test_accuracy").mean_sd(), spread(theirs, "test_accuracy").mean_sd()])
        return headers, rows
    headers = ["Dropout (Y/N)", "Train/Test", "Accuracy: notebook", "ours", "Keras", "Loss: notebook", "ours", "Keras"]
    rows = []
    for label, member in zip(exercise.labels, members):
        ours, theirs = done.trials(member, "mnistlab"), done.trials(member, "keras")
        for part in ("train", "test"):
            noted = [getattr(member.reference, f"{part}_{figure}") for figure in ("accuracy", "loss")]
            rows.append([
                label, part.title(),
                "—" if noted[0] is None else f"{noted[0]:.4f}",
                spread(ours, f"{part}_accuracy").mean_sd(), spread(theirs, f"{part}_accuracy").mean_sd(),
                "—" if noted[1] is None else f"{noted[1]:.4f}",
                spread(ours, f"{part}_loss").mean_sd(), spread(theirs, f"{part}_loss").mean_sd(),
            ])
    return headers, rows


def text_report(done: Reproduction, asked: list[Recipe]) -> str:
    """The terminal's view: one table of recipes, then each exercise's table."""
    unique = trained_recipes(asked)
    adjusted = keras_p_values(done, unique)
    parts = [text_table(HEADERS, [recipe_row(done, r, adjusted) for r in unique])]
    for exercise in (r for r in asked if r.kind == "exercise"):
        headers, rows = exercise_table(done, exercise)
        parts.append(f"{exercise.name}: {exercise.description}\n" + text_table(headers, rows))
    return "\n\n".join(parts)


def total_seconds(done: Reproduction, trained: list[Recipe], framework: str) -> float:
    """Every seed's training time by ``framework`` for ``trained`` (recipes as ``trained_recipes`` gives them)."""
    return sum(t.seconds for r in trained for t in done.trials(r, framework))


def markdown_report(done: Reproduction, asked: list[Recipe], command: str, machine: str, table_dir: Path) -> str:
    """``docs/reproduction.md``: per notebook file, its recipes' table, its exercises' tables, and where each number comes from."""
    trained = trained_recipes(asked)
    keras_versions = sorted({f"Keras {t.versions['keras']} on TensorFlow {t.versions['tensorflow']}"
                             for r in trained for t in done.trials(r, "keras")})
    lines = [
        "# Reproducing the five notebooks",
        "",
        f"Generated by `{command}` on {machine}. Seeds {', '.join(map(str, done.seeds))}; every per-seed number, with "
        "the versions, is in the JSON file beside this one"
        + (" (the same command without --fresh resumes it, reusing those)." if " --fresh" in command else "."),
        "",
        f"A recipe reproduces its notebook when the notebook's number lies within our min–max over at least {RANGE_SEEDS} "
        f"seeds, or within {TOLERANCE_PP} percentage points of our mean; the column says which held. A target (mnistlab's "
        "own recipes) must be reached by our mean, not approached. The notebook's number "
        "is its printed output or its prose (as marked); where it printed none, another copy's number stands in, marked "
        "'other copy'. Keras is the notebook's own code (Keras 2 names in their Keras 3 form) run with the same data and "
        f"seeds in its own environment ({', '.join(keras_versions) or 'not run'}); Welch's t-test compares its test "
        f"accuracy with ours, p < {SIGNIFICANCE} in bold, and in brackets that p adjusted by Holm's method for the number of "
        "recipes compared at once (each comparison alone is one of many: by chance alone, one in twenty falls under 0.05). "
        f"Accuracy is on each dataset's test set. Times marked {BUSY_MARK} include seeds timed while other processes kept "
        f"more than {QUIET} of a core busy (or from before the run recorded it: `others_busy` in the JSON), so they are "
        "not figures to compare.",
        "",
        f"Training time in all: ours {total_seconds(done, trained, 'mnistlab') / 60:.1f} min, "
        f"Keras {total_seconds(done, trained, 'keras') / 60:.1f} min (the sum of every seed's training).",
        "",
    ]
    adjusted = keras_p_values(done, trained)
    by_notebook: dict[str, list[Recipe]] = {}
    for recipe in list({r.name: r for r in [*trained, *(r for r in asked if r.kind == "exercise")]}.values()):
        by_notebook.setdefault(recipe.notebook, []).append(recipe)
    for notebook in sorted(by_notebook):
        recipes = by_notebook[notebook]
        number = recipes[0].notebook_number
        lines += [f"## `{notebook}` — {NOTEBOOK_TITLES.get(number, 'mnistlab’s own recipes')}", ""]
        plain = [r for r in recipes if r.kind != "exercise"]
        if plain:
            rows = [recipe_row(done, r, adjusted, _report_link(done, r, table_dir)) for r in plain]
            lines += [markdown_table(HEADERS, rows)]
        for exercise in (r for r in recipes if r.kind == "exercise"):
            headers, rows = exercise_table(done, exercise)
            lines += [f"**{exercise.name}** — {exercise.description} ({exercise.settings_from})", "", markdown_table(headers, rows)]
        for recipe in plain:
            ref = recipe.reference
            lines.append(f"- **{recipe.name}** — {recipe.description}" + (f" Settings: {recipe.settings_from}" if recipe.settings_from else ""))
            if ref.quote:  # a recipe file of one's own may have no reference
                lines.append(f"  Reference ({ref.source}): {ref.cell}: `{ref.quote}`. {ref.reading[:1].upper()}{ref.reading[1:]}")
            lines += [f"  Other copy: {s.test_accuracy:.4f}, {s.where}." for s in ref.secondary]
        lines.append("")
    return "\n".join(lines + same_start_section(done.store.same_start))


def same_start_section(comparisons: list[dict]) -> list[str]:
    """The same-start comparisons (``mnistlab same-start``): where ours and Keras's steps part, from the same start."""
    if not comparisons:
        return []
    rows = [[c["recipe"], str(c["seed"]), str(c["epochs"]), str(c["steps"]), str(c["steps_agreeing"]), f"{c['largest_gap_first_100']:.1e}",
             " / ".join(f"{o:.4f}, {k:.4f}" for o, k in zip(c["train_loss"]["mnistlab"], c["train_loss"]["keras"])),
             f"{c['test_accuracy']['mnistlab']:.4f} / {c['test_accuracy']['keras']:.4f}"]
            for c in sorted(comparisons, key=lambda c: (c["recipe"], c["seed"], c["epochs"]))]
    headers = ["recipe", "seed", "epochs", "steps", "steps agreeing (relative gap ≤ 1e-4)", "largest gap, first 100 steps",
               "train loss per epoch, ours, Keras", "test accuracy after, ours / Keras"]
    return [
        "## Same start: do ours and Keras compute the same steps?",
        "",
        "Seeds only compare averages. `mnistlab same-start RECIPE` starts both sides from the Keras model's initial weights "
        "and trains them on the same batches in the same order (no early stopping), comparing the running loss after every "
        "step. The same arithmetic keeps the two within float rounding until that rounding, amplified step after step, "
        "parts them; a different loss, optimizer update or initializer would part them in the first steps. Dense recipes "
        "only: dropout masks and augmentation are random draws the two frameworks do not share.",
        "",
        markdown_table(headers, rows),
        "",
    ]


def _report_link(done: Reproduction, recipe: Recipe, table_dir: Path) -> str | None:
    trials = done.trials(recipe, "mnistlab")
    report = Path(trials[0].run) / "report.html" if trials and trials[0].run else None
    return Path(os.path.relpath(report, table_dir)).as_posix() if report is not None and report.is_file() else None


def save_report(done: Reproduction, asked: list[Recipe], table: Path, command: str, machine: str) -> Path:
    """Write the Markdown report (the trials are already in its JSON twin)."""
    write_text(table, markdown_report(done, asked, command, machine, table.parent))
    return table
