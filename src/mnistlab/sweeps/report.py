"""A sweep's report: the table of trials, the best configuration tested once and written out as a
recipe, and Optuna's own plots on one self-contained page."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from mnistlab.atomic import write_text
from mnistlab.errors import MnistlabError
from mnistlab.evaluation.evaluate import evaluate
from mnistlab.sweeps.space import SearchSpace
from mnistlab.sweeps.study import SPEC_KEY, describe, finished_trials, shown
from mnistlab.tables import fixed
from mnistlab.viz import html
from mnistlab.viz.canvas import save_png

TESTED_KEY = "tested"  # the study's record of test-set evaluations: trial number -> result


@dataclass
class SweepReport:
    """What ``report`` wrote and found."""

    headers: list[str]
    rows: list[list[str]]
    best: FrozenTrial | None
    test: dict | None
    page: Path
    recipe: Path | None
    summary: str


def trial_rows(study: optuna.Study, space: SearchSpace, tested: dict) -> tuple[list[str], list[list[str]]]:
    """One row per trial: its parameters, training, validation and (best only) test accuracy, epochs, time, state."""
    headers = ["trial", *space.params, "train acc", "val acc", "test acc", "epochs", "seconds", "state", "host"]
    rows = []
    for t in study.get_trials(deepcopy=False):
        value = t.value if t.state == TrialState.COMPLETE else None
        test = tested.get(str(t.number), {}).get("test_accuracy")
        seconds = t.user_attrs.get("seconds")
        rows.append([str(t.number), *(shown(t.params[p]) if p in t.params else "—" for p in space.params),
                     fixed(t.user_attrs.get("train_accuracy")), fixed(value), fixed(test),
                     str(t.user_attrs.get("epochs_run", "—")), "—" if seconds is None else f"{seconds:.1f}",
                     t.state.name.lower(), t.user_attrs.get("host", "—")])
    return headers, rows


def test_best(study: optuna.Study, best: FrozenTrial, data_dir: str | Path | None) -> dict:
    """The best trial's test-set result: evaluated once, then kept in the study."""
    tested = dict(study.user_attrs.get(TESTED_KEY, {}))
    if str(best.number) not in tested:
        run = Path(best.user_attrs["run"])
        if not (run / "model.safetensors").is_file():
            raise MnistlabError(
                f"the best trial's run is not on this machine ({best.user_attrs.get('host')}:{run}); "
                "run `mnistlab sweep report` on that machine to test it"
            )
        tested[str(best.number)] = evaluate(run, data_dir)
        study.set_user_attr(TESTED_KEY, tested)
    return tested[str(best.number)]


def toml_value(value: object) -> str:
    """A TOML literal for the values a [train] table holds (strings, numbers, booleans, lists, tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise MnistlabError(f"cannot write {value!r} into a recipe")


def best_recipe(name: str, spec: dict, space: SearchSpace, best: FrozenTrial, test: dict) -> str:
    """The best configuration as a recipe TOML that `mnistlab train` runs as it is."""
    config = space.config(best.params, name=f"{name}-best")
    settings = {k: v for k, v in config.to_dict().items() if v is not None and k != "name"}
    description = (f"The best of sweep {name} (from {spec.get('recipe') or 'a sweep file'}): trial {best.number}, "
                   f"validation accuracy {best.value:.4f} on {space.validation:.0%} of the training set held out, "
                   f"test accuracy {test['test_accuracy']:.4f} (tested once, after the sweep chose it).")
    lines = [f"description = {toml_value(description)}", 'kind = "tuned"', "", "[train]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in settings.items()]
    return "\n".join(lines) + "\n"


def optuna_figures(study: optuna.Study, folder: Path) -> list[tuple[str, Path | str]]:
    """Optuna's optimization history, parallel coordinates and parameter importances as PNGs (or why one is missing)."""
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    figures: list[tuple[str, Path | str]] = []
    for title, draw in (("Optimization history", plots.plot_optimization_history),
                        ("Parallel coordinates", plots.plot_parallel_coordinate),
                        ("Parameter importances", plots.plot_param_importances)):
        path = folder / f"{title.lower().replace(' ', '-')}.png"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = draw(study)
            figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
            figure.set_size_inches(8, 4.5)
            save_png(figure, path)
            plt.close(figure)
            figures.append((title, path))
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:  # too few finished trials or parameters for this plot
            plt.close("all")
            figures.append((title, f"not drawn: {exc}"))
    return figures


def report(study: optuna.Study, folder: Path, data_dir: str | Path | None = None) -> SweepReport:
    """Write ``folder/report.html`` and, once a trial has completed, ``folder/best.toml``; test the best trial once."""
    spec = study.user_attrs[SPEC_KEY]
    space = SearchSpace.from_dict(spec["space"])
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    best = max(completed, key=lambda t: t.value) if completed else None
    test = test_best(study, best, data_dir) if best is not None else None
    headers, rows = trial_rows(study, space, study.user_attrs.get(TESTED_KEY, {}))
    recipe = None
    if best is not None:
        recipe = folder / "best.toml"
        write_text(recipe, best_recipe(study.study_name, spec, space, best, test))
    states = {s.name.lower(): sum(t.state == s for t in study.get_trials(deepcopy=False)) for s in TrialState}
    summary = (f"{finished_trials(study)} of {spec['trials']} trials finished "
               f"({', '.join(f'{n} {s}' for s, n in states.items() if n)})")
    if best is not None:
        summary += (f"; best: trial {best.number} ({describe(best.params)}), "
                    f"validation accuracy {best.value:.4f}, test accuracy {test['test_accuracy']:.4f}")
    body = [html.cards([("finished trials", f"{finished_trials(study)} / {spec['trials']}"),
                        ("best validation accuracy", fixed(best.value if best else None)),
                        ("its test accuracy (tested once)", fixed(test["test_accuracy"] if test else None)),
                        ("sampler", "grid" if space.is_grid else "TPE"),
                        ("held out for validation", f"{space.validation:.0%} of train")]),
            html.section("trials", "Trials", html.table(headers, rows, scroll=len(rows) > 12))]
    for title, figure in optuna_figures(study, folder / "report"):
        body.append(html.section(title.lower().replace(" ", "-"), title,
                                 html.figure_img(figure, title) if isinstance(figure, Path) else html.pre(figure)))
    if recipe is not None:
        body.append(html.section("best", "The best configuration, as a recipe", html.pre(recipe.read_text(encoding="utf-8")),
                                 html.pre(f"mnistlab train {recipe}")))
    page = folder / "report.html"
    write_text(page, html.page(f"Sweep {study.study_name}", summary, body))
    return SweepReport(headers, rows, best, test, page, recipe, summary)
