"""``mnistlab bench --parallel``: parallel work on one machine, with and without the thread budget.

Two measurements, each a real command as a user runs it:

- sweep throughput: the same grid of trials (the notebook CNN, one epoch on 12,000 images each) run by
  ``mnistlab sweep`` with 1 worker, with 2 workers on torch's default threads (every worker
  all the cores), and with 2 workers on the budget (cores / 2 each); trials per minute of wall time;
- neighbours: one ``mnistlab train 001-cnn`` epoch alone; beside a process that keeps one core
  busy; and two such trainings started together; with torch's default threads (every training
  all the cores) and on the budget (the free cores, followed as they change).

Rounds are interleaved (A, B, C, A, B, C, ...), and the median round counts.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from mnistlab.bench import write_results
from mnistlab.device import cpu_name
from mnistlab.tables import markdown_table
from mnistlab.threads import THREADS_VARIABLE, share, usable_cores

SWEEP_RECIPE = """description = "the benchmark's sweep: the notebook CNN for one epoch, {trials} times"
kind = "sweep"

[train]
dataset = "mnist"
model = "cnn"
optimizer = "rmsprop"
batch_size = 64
epochs = 1
{limit}

[sweep]
prune = false

[sweep.params]
seed = {seeds}
"""
SPINNER = "while True: pass"


def _mnistlab(*args: str) -> list[str]:
    return [sys.executable, "-m", "mnistlab", *args]


def _environment(threads: int | None, data_dir: str | None) -> dict[str, str]:
    """The environment of a measured command: ``threads`` fixed (None: the budget decides), the data where the user put it."""
    env = {k: v for k, v in os.environ.items() if k != THREADS_VARIABLE}
    if threads is not None:
        env[THREADS_VARIABLE] = str(threads)
    if data_dir:
        env["MNISTLAB_DATA_DIR"] = str(data_dir)
    return env


def sweep_minutes(folder: Path, workers: int, threads: int | None, data_dir: str | None) -> tuple[float, int]:
    """Wall seconds of a whole ``mnistlab sweep`` and the trials it finished."""
    start = time.perf_counter()
    subprocess.run(_mnistlab("sweep", str(folder / "bench-sweep.toml"), "--workers", str(workers), "--sweeps-dir", str(folder / "sweeps")),
                   env=_environment(threads, data_dir), check=True, capture_output=True)
    seconds = time.perf_counter() - start
    trials = [p for p in (folder / "sweeps" / "bench-sweep" / "trials").iterdir() if (p / "metrics.json").is_file()]
    shutil.rmtree(folder / "sweeps")
    return seconds, len(trials)


def epoch_seconds(folder: Path, threads: int | None, neighbour: str | None, limit: int | None, data_dir: str | None) -> dict:
    """One epoch of the notebook CNN as ``mnistlab train``: alone, beside a process spinning on one core
    (``neighbour="spinner"``), or beside a second, identical training started with it (``"training"``)."""
    spinner = subprocess.Popen([sys.executable, "-c", SPINNER]) if neighbour == "spinner" else None
    copies = 2 if neighbour == "training" else 1
    try:
        time.sleep(0.5 if spinner else 0)
        command = _mnistlab("train", "001-cnn", "--epochs", "1", "--validation", "none", "--quiet") + (["--limit", str(limit)] if limit else [])
        trainings = [subprocess.Popen(command + ["--out", str(folder / f"run-{n}")], env=_environment(threads, data_dir),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for n in range(copies)]
        if any(t.wait() != 0 for t in trainings):
            raise RuntimeError("a measured training failed")
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    metrics = [json.loads((folder / f"run-{n}" / "metrics.json").read_text(encoding="utf-8")) for n in range(copies)]
    for n in range(copies):
        shutil.rmtree(folder / f"run-{n}")
    return {"seconds": statistics.mean(m["seconds_per_epoch"] for m in metrics), "trainings": copies,
            "threads": sorted({n for m in metrics for n in m["threads"]})}


def run_parallel_benchmark(quick: bool, data_dir: str | None, out: Path, log: Callable[[str], None] = print) -> dict:
    """Measure both, then write ``out`` (Markdown) and its JSON twin."""
    cores = usable_cores()
    trials, limit, rounds = (2, 1000, 1) if quick else (4, 12000, 3)
    results: dict = {
        "machine": {"cpu": cpu_name(), "cores": cores, "torch": torch.__version__},
        "command": "mnistlab " + shlex.join(sys.argv[1:]), "quick": quick, "trials": trials, "rounds": rounds, "limit": limit,
        "sweeps": {}, "neighbour": {},
    }
    sweeps = {"1 worker": (1, None), "2 workers, torch's default threads": (2, cores), f"2 workers, budget ({share(2)} thread each)": (2, share(2))}
    neighbours = {"alone": (None, None),
                  "beside a busy process, torch's default threads": (cores, "spinner"),
                  "beside a busy process, budget (the free cores)": (None, "spinner"),
                  "two at once, torch's default threads": (cores, "training"),
                  "two at once, budget (the free cores)": (None, "training")}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        recipe = SWEEP_RECIPE.format(trials=trials, limit=f"limit = {limit}" if limit else "", seeds=list(range(trials)))
        (folder / "bench-sweep.toml").write_text(recipe, encoding="utf-8")
        for round_number in range(1, rounds + 1):
            for name, (workers, threads) in sweeps.items():
                log(f"round {round_number}/{rounds}: sweep of {trials} trials, {name} ...")
                seconds, done = sweep_minutes(folder, workers, threads, data_dir)
                results["sweeps"].setdefault(name, []).append({"seconds": seconds, "trials": done})
            for name, (threads, neighbour) in neighbours.items():
                log(f"round {round_number}/{rounds}: one epoch of 001-cnn, {name} ...")
                results["neighbour"].setdefault(name, []).append(epoch_seconds(folder, threads, neighbour, limit, data_dir))
    return write_results(results, out, markdown, log, "Parallel benchmark")


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# Parallel work on one machine", "",
        f"Generated by `{r['command']}`" + (" (quick settings: not representative)" if r["quick"] else "") + f", finished {r['finished']}.", "",
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}. {r['rounds']} round(s), interleaved; the median round counts.", "",
        "## Sweep throughput", "",
        f"`mnistlab sweep` over a grid of {r['trials']} trials (the notebook CNN, one epoch each on the first {r['limit']:,} "
        "MNIST training images, 10% of them held out), wall time of the whole command (worker start-up, data loading and "
        "the report included).", "",
    ]
    rates = {name: statistics.median(60 * x["trials"] / x["seconds"] for x in measured) for name, measured in r["sweeps"].items()}
    one = next(iter(rates.values()))
    rows = []
    for name, measured in r["sweeps"].items():
        seconds = statistics.median(x["seconds"] for x in measured)
        rows.append([name, f"{seconds:.1f}", str(measured[0]["trials"]), f"{rates[name]:.1f}", f"{rates[name] / one:.2f}x"])
    lines.append(markdown_table(["workers", "wall s (median)", "trials run", "trials / minute", "work vs 1 worker"], rows))
    lines += ["## Trainings beside other work", "",
              f"`mnistlab train 001-cnn --epochs 1 --limit {r['limit']}`: seconds of its epoch alone, beside a Python process "
              "spinning on one core, and as one of two identical trainings started together (their mean). \"Work\" is epochs "
              "done per second by the trainings together, against one training alone.", ""]
    alone = statistics.median(x["seconds"] for x in next(iter(r["neighbour"].values())))
    rows = []
    for name, measured in r["neighbour"].items():
        seconds = statistics.median(x["seconds"] for x in measured)
        threads = sorted({n for x in measured for n in x["threads"]})
        work = measured[0]["trainings"] * alone / seconds
        rows.append([name, "/".join(map(str, threads)), f"{seconds:.1f}", f"{seconds / alone:.2f}x", f"{work:.2f}x"])
    lines.append(markdown_table(["training", "threads used", "s / epoch (median)", "time vs alone", "work vs one alone"], rows))
    return "\n".join(lines)
