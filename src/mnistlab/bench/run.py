"""``run_benchmark``: every measurement of ``mnistlab bench``, written as Markdown and JSON."""

from __future__ import annotations

import os
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mnistlab.atomic import write_json, write_text
from mnistlab.bench.measure import (
    CUMULATIVE_VARIANTS, SPEED_VARIANTS, inference, machine, peak_memory, steady_epoch_seconds, step_times, throughput, time_to_accuracy,
)
from mnistlab.config import merge
from mnistlab.data.loaders import load_dataset
from mnistlab.data.registry import MNIST
from mnistlab.data.sources import locate
from mnistlab.device import autocast_dtype, resolve_device
from mnistlab.keras_reference.environment import HERE, Lockstep, keras_environment, keras_python
from mnistlab.recipes import load_recipe
from mnistlab.runs.store import load_run
from mnistlab.tables import markdown_table
from mnistlab.threads import THREADS_VARIABLE, usable_cores

TARGETS = (0.99, 0.995)
TTA_RECIPES = ("fast-99", "fast-995", "001-cnn")


def keras_lockstep(data_folder: Path, model: str, epochs: int, limit: int | None, threads: int) -> Lockstep:
    """The notebook ``model`` (cnn or mlp) trained with Keras in its environment, in lockstep (``Lockstep``)."""
    command = [str(keras_python()), str(HERE / "bench_models.py"), "--data", str(data_folder), "--model", model, "--epochs", str(epochs), "--lockstep"]
    if limit:
        command += ["--limit", str(limit)]
    return Lockstep(command, keras_environment(threads))


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def run_benchmark(quick: bool, device: str, data_dir: str | None, keras: bool, out: Path, log: Callable[[str], None] = print) -> dict:
    """Measure, then write ``out`` (Markdown) and its JSON twin (every training on all the cores: no thread budget)."""
    os.environ.setdefault(THREADS_VARIABLE, str(usable_cores()))
    target = resolve_device(device)
    dataset = load_dataset("mnist", data_dir)
    folder = locate(MNIST, data_dir)[MNIST.train_images.name].parent
    limit = 2000 if quick else None
    epochs = 2 if quick else 5
    seeds = [0] if quick else [0, 1, 2, 3, 4]
    precision = {kind: "fp32" if autocast_dtype("auto", target, convolutional=kind == "CNN") is None else "bf16 autocast"
                 for kind in ("CNN", "MLP")}
    results: dict = {"machine": machine(target), "precision": precision, "quick": quick, "command": "mnistlab " + " ".join(map(shlex.quote, sys.argv[1:]))}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results["throughput"], results["keras"] = {}, {}
        for name, recipe, keras_model in (("notebook CNN", "001-cnn", "cnn"), ("512 MLP", "001-mlp-512", "mlp")):
            config = merge(load_recipe(recipe).config, {"epochs": epochs, "limit": limit, "device": device})
            if not keras:
                log(f"throughput: {name} ({recipe}) ...")
                results["throughput"][name] = throughput(config, dataset, work / recipe)
                continue
            log(f"throughput: {name} ({recipe}), epochs alternating with the Keras reference's ...")
            with keras_lockstep(folder, keras_model, epochs, limit, results["machine"]["torch_threads"]) as reference:
                results["throughput"][name] = throughput(config, dataset, work / recipe, after_epoch=reference.epoch)
                results["keras"][name] = reference.result()
        log("inference: torch and ONNX ...")
        results["inference"] = inference(load_run(work / "001-cnn"), dataset, work, single_calls=50 if quick else 500)
        results["time_to_accuracy"] = {}
        for recipe in TTA_RECIPES:
            log(f"time to accuracy: {recipe}, {len(seeds)} seed(s) ...")
            base = load_recipe(recipe).config
            config = merge(base, {"limit": limit, "device": device, **({"epochs": min(base.epochs, epochs)} if quick else {})})
            results["time_to_accuracy"][recipe] = time_to_accuracy(config, dataset, seeds, TARGETS, work / f"tta-{recipe}")
        log("peak memory of a training run ...")
        results["peak_memory_mib"] = peak_memory("001-cnn", limit or 60000, folder.parent)
    log("speed options on the notebook CNN ...")
    steps = 20 if quick else 80
    variants = [v for v in SPEED_VARIANTS if not (quick and v == "torch.compile")]  # compiling alone takes ~30 s
    results["speed_option_rounds"] = 1 if quick else 3
    results["speed_options"] = step_times(variants, dataset, steps, results["speed_option_rounds"])
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    write_text(out, markdown(results))
    write_json(out.with_suffix(".json"), results)
    log(f"Benchmark written to {out} and {out.with_suffix('.json')}")
    return results


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{r['command']}`" + (" (quick settings: not representative)" if r["quick"] else "") + f", finished {r['finished']}.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads, torch {m['torch']}, device {m['device']}, "
        f"AMX bf16: {'yes' if m['amx_bf16'] else 'no'}, native first stage: {m['native_first_stage']}.",
        "",
        "## Training throughput",
        "",
        "Steady state: the first epoch is warm-up and left out, and the median of the others counts (one epoch slowed "
        "down by the rest of a shared machine does not move it). The Keras column is the same network and settings "
        "trained with Keras 3 (`model.fit`, TensorFlow backend) in the same run, its epochs alternating with ours (ours, "
        "Keras's, ours, ...; each waits while the other runs), so that each pair of epochs sees the machine in the same "
        "state. Ours trains as the recipes do, with `precision = \"auto\"`, which on this machine means "
        f"{r['precision']['CNN']} for the CNN and {r['precision']['MLP']} for the MLP.",
        "",
    ]
    rows = []
    for name, ours in r["throughput"].items():
        ref = r["keras"].get(name)
        ref_epoch = None
        if ref:
            ref_epoch = steady_epoch_seconds(ref["epoch_seconds"])
        rows.append([
            name, _fmt(ours["seconds_per_epoch"]), f"{ours['images_per_second']:,.0f}", f"{ours['test_accuracy']:.4f}",
            _fmt(ref_epoch), "—" if not ref else f"{ref['images'] / ref_epoch:,.0f}", "—" if not ref else f"{ref['test_accuracy']:.4f}",
            "—" if not ref else f"{ours['seconds_per_epoch'] / ref_epoch:.2f} ({ref_epoch / ours['seconds_per_epoch']:.1f}x faster)",
        ])
    lines.append(markdown_table(
        ["model", "ours s/epoch", "ours images/s", "ours test acc", "Keras s/epoch", "Keras images/s", "Keras test acc", "ours / Keras time"], rows))
    if r["keras"]:
        k = next(iter(r["keras"].values()))
        lines += [f"Keras {k['keras']}, TensorFlow {k['tensorflow']}.", ""]
    else:
        lines += ["The Keras reference was not run (`--no-keras`).", ""]
    lines += ["## Time to accuracy", "", "Wall seconds of training from the start (data in memory) to the end of the first epoch "
              "whose MNIST test accuracy reaches the target, each epoch's evaluation of the 10,000 test images included; "
              "mean ± sd and min over the seeds that reach it. \"Whole run\" is the recipe's full training time "
              "over all seeds, mean ± sd.", ""]
    rows = []
    for recipe, t in r["time_to_accuracy"].items():
        totals = [seed["seconds"] for seed in t["per_seed"]]
        cells = [recipe, f"{t['final_accuracy_mean']:.4f} (min {t['final_accuracy_min']:.4f})",
                 f"{statistics.mean(totals):.1f} ± {statistics.pstdev(totals):.1f}"]
        for target in TARGETS:
            s = t["targets"][f"{target:.3f}"]
            cells.append("not reached" if s["mean"] is None else f"{s['mean']:.1f} ± {s['sd']:.1f} (min {s['min']:.1f}), {s['seeds_reaching']}/{s['seeds']} seeds")
        rows.append(cells)
    lines.append(markdown_table(["recipe", "final test accuracy, mean", "whole run, s", "to ≥ 99.0%", "to ≥ 99.5%"], rows))
    lines += ["## Inference (notebook CNN, 10,000 test images)", ""]
    lines.append(markdown_table(
        ["engine", "images/s (batch)", "single image p50 ms", "single image p99 ms"],
        [[name, f"{v['images_per_second']:,.0f}", f"{v['latency_p50_ms']:.2f}", f"{v['latency_p99_ms']:.2f}"] for name, v in r["inference"].items()],
    ))
    lines += [f"Peak memory of a training run (`mnistlab train 001-cnn`, one epoch, as a process): {r['peak_memory_mib']:.0f} MiB.", "",
              "## Speed options tried", "", "Milliseconds per training step of the notebook CNN (batch 64, RMSprop as in the notebook) "
              f"on this machine: each option is built once, then timed in {r['speed_option_rounds']} interleaved round(s), and its fastest round counts. "
              f"The first {CUMULATIVE_VARIANTS} rows build on each other and are what the training loop does: channels-last for "
              "convolutional networks (with a flatten that keeps the gradient channels-last), pooling before the activation "
              "(`Network.forward`), bf16 autocast under `precision = \"auto\"` on CPUs with AMX (and on CUDA), dense layers "
              "whose matrix products are small left in fp32 under it (`models/dense.py`), and all "
              "trainable parameters as views into one flat buffer, so the optimizer updates them in one pass (`training/flat.py`), "
              "and the first convolution, its max pool and relu as one C kernel compiled for the machine on first use "
              "(`models/first_stage.py`). "
              "The rows below them change one thing on top of all of those: torch.compile (which traces the layers in torch, "
              "without the C kernel); torch's multi-tensor RMSprop "
              "over the separate parameter tensors instead of the flat buffer; Adam over the flat buffer (as the loop makes it "
              "for the Adam recipes); and torch's fused Adam over the separate tensors. "
              "The loop uses neither compile nor the per-tensor optimizers (speed-notes.md says why). "
              "[speed-notes.md](speed-notes.md) has what was measured while building these.", ""]
    base = r["speed_options"][SPEED_VARIANTS[0]]
    lines.append(markdown_table(["option", "ms / step", "vs baseline"],
                                [[k, f"{v:.2f}", f"{base / v:.2f}x"] for k, v in r["speed_options"].items()]))
    return "\n".join(lines)
