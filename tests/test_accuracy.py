"""``mnistlab accuracy``: a best recipe over seeds, its ensemble, TTA, calibration and abstention, chosen on validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mnistlab.cli.main import main

RECIPE = """
description = "a small MLP standing in for a best recipe"
kind = "best"

[train]
dataset = "mnist"
model = "mlp-128-64-32"
optimizer = "adam"
epochs = 1
limit = 3000
validation = 0.2
split_seed = 0

[reference]
source = "target"
test_accuracy = 0.99
ensemble_accuracy = 0.5
quote = "targets"
"""


def test_accuracy_report_resumes_and_chooses_on_validation(capsys, tmp_path: Path, data_dir: Path) -> None:
    recipe, table, runs = tmp_path / "tiny-best.toml", tmp_path / "accuracy.md", tmp_path / "runs"
    recipe.write_text(RECIPE)
    command = ["accuracy", str(recipe), "--seeds", "2", "--table", str(table), "--runs-dir", str(runs), "--images", "100"]
    assert main(command) == 0
    first = capsys.readouterr().out
    saved = json.loads(table.with_suffix(".json").read_text())
    measures = {key.split("/", 2)[2]: value for key, value in saved["measures"].items()}
    models = {"seed-0", "seed-0-tta", "seed-1", "seed-1-tta", "ensemble-0-1", "ensemble-0-1-tta"}
    assert models <= set(measures)
    # every figure is the run folder's own: the seeds', their TTA twins', the ensembles'
    for seed in (0, 1):
        folder = runs / "tiny-best" / f"seed-{seed}"
        plain, tta = (json.loads((f / "metrics.json").read_text()) for f in (folder, folder / "tta"))
        assert measures[f"seed-{seed}"]["test_accuracy"] == plain["test_accuracy"]
        assert measures[f"seed-{seed}-tta"]["val_accuracy"] == tta["val_accuracy"]
        assert 0 <= measures[f"seed-{seed}"]["ece_after"] < 0.2
    ensemble = json.loads((runs / "tiny-best" / "ensemble-0-1" / "tta" / "metrics.json").read_text())
    assert ensemble["tta"] and len(ensemble["members"]) == 2 and measures["ensemble-0-1-tta"]["test_accuracy"] == ensemble["test_accuracy"]
    # TTA is chosen for the single models exactly when their mean validation accuracy is higher
    mean = {v: sum(measures[f"seed-{s}{v}"]["val_accuracy"] for s in (0, 1)) / 2 for v in ("", "-tta")}
    single = "with TTA" if mean["-tta"] > mean[""] else "as trained"
    ensemble_choice = "tta" if measures["ensemble-0-1-tta"]["val_accuracy"] > measures["ensemble-0-1"]["val_accuracy"] else "plain"
    assert set(measures) - models == {f"abstention-seed-0-{'tta' if single == 'with TTA' else 'plain'}-100",
                                      f"abstention-ensemble-{ensemble_choice}-100"}  # the chosen models', 100 images a set
    page = table.read_text()
    row = next(line for line in page.splitlines() if line.startswith(f"| single model, {single}"))
    assert "| ✓ |" in row and "**no** (0.9900:" in row  # a 1-epoch MLP on 3,000 images misses 99%
    assert "yes (0.5000)" in page and "Abstention of the chosen single model" in page and "letters" in page
    assert "tiny-best: measuring seed-0-tta" in first
    # a rerun trains and measures nothing again, and writes the same report from the results file alone
    runs.rename(tmp_path / "runs-moved-away")
    assert main([*command, "--no-train"]) == 0
    assert "measuring" not in capsys.readouterr().out and table.read_text() == page


@pytest.mark.parametrize("removed", ["validation = 0.2\n", "split_seed = 0\n"])
def test_a_recipe_without_one_shared_validation_split_is_refused(capsys, tmp_path: Path, removed: str) -> None:
    recipe = tmp_path / "no-split.toml"
    recipe.write_text(RECIPE.replace(removed, ""))
    assert main(["accuracy", str(recipe), "--table", str(tmp_path / "a.md")]) == 2
    assert "does not hold out one validation split for all its seeds" in capsys.readouterr().err
    assert not (tmp_path / "a.json").exists()  # refused before anything was trained
