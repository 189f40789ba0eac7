"""``docs/accuracy.md``: the best recipes' accuracy per seed and as an ensemble, with and without
test-time augmentation, against their targets, with times, calibration and abstention."""

from __future__ import annotations

import statistics

from mnistlab.prediction.abstention import ABSTENTION_HEADERS, LETTER_HEADERS, abstention_caption, abstention_rows, hardest_letters
from mnistlab.recipes import Recipe
from mnistlab.recipes.reproduction_report import BUSY_MARK, QUIET, Spread, busy, target_verdict
from mnistlab.tables import fixed, markdown_table

VARIANTS = {"plain": "as trained", "tta": "with TTA"}
OTHER_DATASET = "the other dataset (Fashion-MNIST for digits, MNIST for clothes)"


ELSEWHERE_MARK = "‡"


def trained_on(seeds: list[dict]) -> str:
    """Where a recipe's seeds trained, as its sentence on time says it: "here" (the report's machine) where none recorded one."""
    known = sorted({s["machine"] for s in seeds if s.get("machine")})
    if not known:
        return "here"
    return "on " + " and ".join(known) + ("" if all(s.get("machine") for s in seeds) else " and machines not recorded")


def elsewhere(seeds: list[dict], machine: str) -> bool:
    """Whether some of the seeds were timed on a recorded machine other than the report's."""
    return any(s.get("machine") not in (None, machine) for s in seeds)


def reached(target: float | None, accuracy: float) -> str:
    return "—" if target is None else target_verdict(target, accuracy)


def summary_rows(recipe: Recipe, measured: dict) -> list[list[str]]:
    """One row per reported model: the single models (mean ± sd over seeds) and the ensemble, each plain and with TTA."""
    rows = []
    seeds = measured["seeds"]
    for variant, label in VARIANTS.items():
        val, test = (Spread(tuple(s[variant][k] for s in seeds)) for k in ("val_accuracy", "test_accuracy"))
        rows.append([f"single model, {label} (mean ± sd of {len(seeds)} seeds)", "✓" if measured["single_choice"] == variant else "",
                     val.mean_sd(), test.mean_sd(), test.range(),
                     reached(recipe.reference.test_accuracy, test.mean) if measured["single_choice"] == variant else ""])
    for variant, label in VARIANTS.items() if "ensemble" in measured else ():
        model = measured["ensemble"][variant]
        rows.append([f"ensemble of the {len(seeds)} seeds, {label}", "✓" if measured["ensemble_choice"] == variant else "",
                     fixed(model["val_accuracy"]), fixed(model["test_accuracy"]), "",
                     reached(recipe.reference.ensemble_accuracy, model["test_accuracy"]) if measured["ensemble_choice"] == variant else ""])
    return rows


def seed_rows(measured: dict) -> list[list[str]]:
    rows = []
    for s in measured["seeds"]:
        rows.append([str(s["seed"]), *(f"{s['plain'][k]:.4f} / {s['tta'][k]:.4f}" for k in ("val_accuracy", "test_accuracy")),
                     f"{s['seconds'] / 60:.1f}" + (BUSY_MARK if busy(s["others_busy"]) else ""),
                     ", ".join(map(str, s["threads"])) if s.get("threads") else "—", *calibration_cells(s["plain"]), *calibration_cells(s["tta"])])
    for variant, label in VARIANTS.items() if "ensemble" in measured else ():
        model = measured["ensemble"][variant]
        rows.append([f"ensemble, {label}", fixed(model["val_accuracy"]), fixed(model["test_accuracy"]), "", "",
                     *(calibration_cells(model) if variant == "plain" else ["", ""]), *(calibration_cells(model) if variant == "tta" else ["", ""])])
    return rows


def calibration_cells(model: dict) -> list[str]:
    return [f"{model['temperature']:.2f}", f"{model['ece_before']:.4f} → {model['ece_after']:.4f}"]


def recipe_section(recipe: Recipe, measured: dict) -> list[str]:
    lines = [f"## {recipe.name}", "", recipe.description, ""]
    if not measured["seeds"]:
        return lines + ["Not trained yet.", ""]
    seconds = [s["seconds"] for s in measured["seeds"]]
    config = recipe.config
    lines += [
        f"Training takes {statistics.fmean(seconds):.0f} s a seed {trained_on(measured['seeds'])} (the ensemble: the sum, {sum(seconds) / 60:.1f} min). "
        f"The seeds hold out {config.validation:.0%} of the training set (split_seed {config.holdout_seed}); ✓ marks the "
        "choice made on it.", "",
        markdown_table(["model", "chosen", "validation accuracy", "test accuracy", "test min–max", "target reached"], summary_rows(recipe, measured)),
        "Every seed: accuracy as trained / with TTA; the thread counts torch trained it with (the result depends on "
        "them: to train a seed again as it was, set `$MNISTLAB_THREADS` to its one count; —: not recorded); "
        "the temperature fitted on the validation split and the expected calibration error (15 bins) on the test set before → "
        "after it, for the model as trained and with TTA.", "",
        markdown_table(["seed", "validation accuracy", "test accuracy", "training min", "threads", "temperature", "ECE", "temperature, TTA", "ECE, TTA"],
                       seed_rows(measured)),
    ]
    names = {"single": f"the chosen single model (seed {measured['seeds'][0]['seed']}, {VARIANTS[measured['single_choice']]})",
             "ensemble": f"the chosen ensemble ({VARIANTS.get(measured.get('ensemble_choice', ''), '')})"}
    for which, table in measured["abstention"].items():
        lines += [
            f"Abstention of {names[which]}: {abstention_caption(table)}", "",
            markdown_table(ABSTENTION_HEADERS, abstention_rows(table)),
        ]
    ensemble = measured["abstention"].get("ensemble", {})
    if "letters" in ensemble:
        rows, others = hardest_letters(ensemble)
        lines += [f"The letters the chosen ensemble takes most for its classes, each drawn {ensemble['letters'][0]['images']} "
                  f"times or so: the AUROC of its confidence and of its distance against the true test images, the share its rule "
                  f"answers, and what it answers most. {others}", "", markdown_table(LETTER_HEADERS, rows)]
    return lines


def overview_rows(recipes: list[Recipe], measured: dict[str, dict], machine: str) -> list[list[str]]:
    """One row per trained recipe: its chosen models' test accuracy and the chosen ensemble's abstention."""
    rows = []
    for recipe in recipes:
        m = measured[recipe.name]
        if "ensemble" not in m:
            continue
        single = Spread(tuple(s[m["single_choice"]]["test_accuracy"] for s in m["seeds"]))
        true, photos, *others = m["abstention"]["ensemble"]["rows"]
        rows.append([recipe.name, f"{single.mean:.4f} ({VARIANTS[m['single_choice']]})",
                     f"{m['ensemble'][m['ensemble_choice']]['test_accuracy']:.4f} ({VARIANTS[m['ensemble_choice']]})",
                     f"{statistics.fmean(s['seconds'] for s in m['seeds']) / 60:.1f}" + (ELSEWHERE_MARK if elsewhere(m["seeds"], machine) else ""),
                     *(f"{r['auroc_confidence']:.4f}" for r in others),
                     *(f"{r['answered_by_rule']:.1%}" for r in (true, photos)), " / ".join(f"{r['answered_by_rule']:.1%}" for r in others)])
    return rows


def markdown_report(recipes: list[Recipe], measured: dict[str, dict], command: str, machine: str) -> str:
    lines = [
        "# The accuracy frontier",
        "",
        f"Generated by `{command}` on {machine}, with every best recipe trained in the JSON file beside this one, "
        "which holds every number, per seed.",
        "",
        "Each best recipe is trained once per seed; its seeds hold out the same images of the training set as a validation "
        "split (one `split_seed`), and every choice is made on it: the temperature that calibrates each model's probabilities, its "
        "decision thresholds, and whether test-time augmentation (TTA: the mean answer over the image and its one-pixel "
        "shifts, and their mirrors for a recipe trained with mirror images) is used. The test set is evaluated once per model shown and chooses nothing. A target is reached when "
        "the chosen single models' mean test accuracy, or the chosen ensemble's, is at least it. Times marked "
        f"{BUSY_MARK} were taken while other processes kept more than {QUIET} of a core busy; times marked {ELSEWHERE_MARK}, on "
        "another machine than this one (each recipe's section says which): CPUs of one name can differ twofold in speed.",
        "",
    ]
    overview = overview_rows(recipes, measured, machine)
    if overview:
        rows = next(m for m in measured.values() if "ensemble" in m)["abstention"]["ensemble"]["rows"]
        others = [OTHER_DATASET, *(r["set"] for r in rows[3:])]  # the other dataset is MNIST or Fashion-MNIST, by recipe
        lines += [
            "Side by side: each recipe's chosen single models (mean test accuracy over the seeds) and chosen ensemble, the "
            "minutes a seed takes, and the chosen ensemble's abstention — the AUROC of its confidence against each set of "
            "things that are not its classes, and the share its own rule answers of the true test images, of photos of them "
            "(dark ink on paper, prepared as `predict` prepares a photo) and of each of those sets.",
            "",
            markdown_table(["recipe", "single model", "ensemble", "min a seed", *(f"AUROC, {name}" for name in others),
                            "answered: true images", "answered: their photos", "answered: " + " / ".join(others)], overview),
        ]
    for recipe in recipes:
        lines += recipe_section(recipe, measured[recipe.name])
    return "\n".join(lines)
