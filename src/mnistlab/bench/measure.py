"""The benchmark's measurements: throughput, time to accuracy, inference, memory, speed options."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from mnistlab.config import OPTIMIZER_DEFAULTS, TrainConfig, merge
from mnistlab.data.dataset import Dataset
from mnistlab.data.preprocess import prepare_images
from mnistlab.device import cpu_has_amx, cpu_name
from mnistlab.runs.train import train
from mnistlab.models.dense import Dense
from mnistlab.models.zoo import build_model
from mnistlab.native import unavailable_reason
from mnistlab.prediction.engines import OnnxEngine, TorchEngine
from mnistlab.prediction.export import export_onnx
from mnistlab.runs.store import Run
from mnistlab.training.callbacks import AfterEachEpoch, Callback
from mnistlab.training.flat import flatten_parameters
from mnistlab.training.loop import train_step
from mnistlab.training.optimizers import make_optimizer
from mnistlab.training.progress import Progress

QUIET = Progress(quiet=True)


def machine(device: torch.device) -> dict:
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(device) if device.type == "cpu" else f"{device} ({torch.cuda.get_device_name(device)})",
        "amx_bf16": cpu_has_amx(),
        "native_first_stage": unavailable_reason("first_stage") or "yes",
    }


def train_quietly(config: TrainConfig, dataset: Dataset, folder: Path, callbacks: Sequence[Callback] = ()) -> Run:
    return train(config, out=folder, progress=QUIET, dataset=dataset, callbacks=callbacks)


def steady_epoch_seconds(seconds: list[float]) -> float:
    """Seconds per epoch at steady state: the median epoch, the first (warm-up) left out where there are more;
    the median, so that one epoch slowed down by the rest of a shared machine does not move it."""
    return float(np.median(seconds[1:] if len(seconds) > 1 else seconds))


def throughput(config: TrainConfig, dataset: Dataset, folder: Path, after_epoch: Callable[[], object] | None = None) -> dict:
    """Seconds per epoch at steady state (``steady_epoch_seconds``), images/s, test accuracy; ``after_epoch``
    runs between epochs, outside their timing (the Keras reference's epoch, in lockstep)."""
    run = train_quietly(merge(config, {"validation": "none"}), dataset, folder, [] if after_epoch is None else [AfterEachEpoch(after_epoch)])
    seconds = [row["seconds"] for row in run.history]
    steady = steady_epoch_seconds(seconds)
    images = run.metrics["dataset"]["train"]
    return {"epoch_seconds": seconds, "seconds_per_epoch": steady, "images_per_second": images / steady,
            "test_accuracy": run.metrics["test_accuracy"], "epochs": len(seconds)}


def time_to_accuracy(config: TrainConfig, dataset: Dataset, seeds: list[int], targets: tuple[float, ...], folder: Path) -> dict:
    """Per seed: wall seconds of training (data-dependent initialisation included) until the end of the first
    epoch at or above each target test accuracy."""
    per_seed = []
    for seed in seeds:
        run = train_quietly(merge(config, {"seed": seed, "validation": "test"}), dataset, folder / f"seed{seed}")
        elapsed, reached = run.metrics["setup_seconds"], {}
        for row in run.history:
            elapsed += row["seconds"]
            for target in targets:
                if target not in reached and row["val_accuracy"] >= target:
                    reached[target] = elapsed
        per_seed.append({"seed": seed, "final_accuracy": run.metrics["test_accuracy"], "seconds": run.metrics["seconds"],
                         "reached": {f"{t:.3f}": reached.get(t) for t in targets}})
    summary = {}
    for target in targets:
        times = [s["reached"][f"{target:.3f}"] for s in per_seed]
        hit = [t for t in times if t is not None]
        summary[f"{target:.3f}"] = {
            "seeds_reaching": len(hit), "seeds": len(times),
            "mean": float(np.mean(hit)) if hit else None, "sd": float(np.std(hit)) if len(hit) > 1 else 0.0 if hit else None,
            "min": float(np.min(hit)) if hit else None,
        }
    accuracies = [s["final_accuracy"] for s in per_seed]
    return {"per_seed": per_seed, "targets": summary, "final_accuracy_mean": float(np.mean(accuracies)),
            "final_accuracy_min": float(np.min(accuracies))}


def inference(run: Run, dataset: Dataset, folder: Path, single_calls: int) -> dict:
    """Images/s on the whole test set and single-image latency p50/p99, for torch and ONNX."""
    x = prepare_images(dataset.x_test, dataset.max_value, run.network.flat_input).numpy()
    export_onnx(run, folder / "model.onnx")
    results = {}
    for name, engine in (("torch", TorchEngine(run.network)), ("onnx", OnnxEngine(folder / "model.onnx"))):
        engine.run(x[:256])  # warm-up
        began = time.perf_counter()
        engine.run(x)
        batch_seconds = time.perf_counter() - began
        latencies = []
        for i in range(single_calls):
            one = x[i % len(x) : i % len(x) + 1]
            began = time.perf_counter()
            engine.run(one)
            latencies.append((time.perf_counter() - began) * 1000)
        p50, p99 = np.percentile(latencies, [50, 99])
        results[name] = {"images_per_second": len(x) / batch_seconds, "latency_p50_ms": float(p50), "latency_p99_ms": float(p99)}
    return results


# Runs `mnistlab ARGS` and prints the process's peak RSS in KiB. Linux's VmHWM counts this program
# only; ru_maxrss would also count the benchmark process the child was forked from.
PEAK_RSS_AFTER = """
import re, resource, sys
from pathlib import Path
from mnistlab.cli.main import main
code = main(sys.argv[1:])
status = Path("/proc/self/status")
hwm = re.search(r"VmHWM:\\s+(\\d+) kB", status.read_text()) if status.exists() else None
print(hwm.group(1) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""


def peak_memory(recipe: str, limit: int, data_dir: Path) -> float:
    """Peak resident memory (MiB) of a `mnistlab train` process: one epoch of ``recipe`` on ``limit`` images.

    The process reports its own peak, so other children of the benchmark (Keras) cannot leak into it.
    """
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [sys.executable, "-c", PEAK_RSS_AFTER, "train", recipe, "--epochs", "1", "--limit", str(limit), "--quiet",
             "--out", str(Path(tmp) / "run"), "--data-dir", str(data_dir)],
            check=True, capture_output=True, text=True,
        )
    return int(result.stdout.strip().splitlines()[-1]) / 1024


def _step_optimizer(variant: str, params: list[torch.nn.Parameter], flat: bool) -> torch.optim.Optimizer:
    """The notebook's RMSprop (over one flat buffer if ``flat``, as the loop makes it), or the
    optimizer a one-change row tries instead."""
    if variant == "multi-tensor RMSprop, per tensor":  # torch's own implementations, for their speed
        keras = OPTIMIZER_DEFAULTS["rmsprop"]
        return torch.optim.RMSprop(params, lr=keras["lr"], alpha=keras["rho"], eps=keras["eps"], foreach=True)
    if variant == "adam, fused, per tensor":
        return torch.optim.Adam(params, **OPTIMIZER_DEFAULTS["adam"], fused=True)
    name = "adam" if variant == "adam, flat buffer" else "rmsprop"
    return make_optimizer(name, [flatten_parameters(params)] if flat else params)


def _training_step(variant: str, dataset: Dataset, steps: int, batch_size: int) -> Callable[[int], None]:
    """A function running training step ``i`` of the notebook CNN (batch 64, RMSprop) under one speed option.

    The first ``CUMULATIVE_VARIANTS`` options build on each other, in the order of
    ``SPEED_VARIANTS``; each later one changes one thing on top of all of them.
    """
    torch.manual_seed(0)
    network = build_model("cnn")
    x = prepare_images(dataset.x_train[: steps * batch_size], 255, flat=False)
    y = torch.from_numpy(dataset.y_train[: steps * batch_size])
    level = min(SPEED_VARIANTS.index(variant), CUMULATIVE_VARIANTS - 1)
    if level >= 1:
        network = network.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    forward = network if level >= 2 else lambda batch: functools.reduce(lambda h, layer: layer(h), network.layers, batch)
    if variant == "torch.compile":
        forward = torch.compile(network)
    autocast = torch.bfloat16 if level >= 3 else None
    if level == 3:  # bf16 for every layer: the dense layers' small products too
        for module in network.modules():
            if isinstance(module, Dense):
                module.small_product = 0
    flat = level >= 5 and not variant.endswith("per tensor")
    network.fused_first_stage = level >= 6
    optimizer = _step_optimizer(variant, list(network.parameters()), flat)

    def step(i: int) -> None:
        train_step(forward, x[i * batch_size : (i + 1) * batch_size], y[i * batch_size : (i + 1) * batch_size], optimizer, autocast)

    return step


def step_times(variants: list[str], dataset: Dataset, steps: int, rounds: int, batch_size: int = 64) -> dict[str, float]:
    """Milliseconds per training step under each speed option, measured in ``rounds`` interleaved
    rounds after a warm-up (compiling included); each option's fastest round counts, since noise
    on a shared machine only ever adds time."""
    step_functions = {v: _training_step(v, dataset, steps, batch_size) for v in variants}
    warmup = min(10, steps // 2)
    for step in step_functions.values():
        for i in range(warmup):
            step(i)
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(rounds):
        for variant, step in step_functions.items():
            began = time.perf_counter()
            for i in range(warmup, steps):
                step(i)
            best[variant] = min(best[variant], (time.perf_counter() - began) * 1000 / (steps - warmup))
    return best


SPEED_VARIANTS = (
    "fp32, contiguous, layer by layer",
    "+ channels-last",
    "+ pooling before the activation",
    "+ bf16 autocast",
    "+ fp32_small_dense: small dense products in fp32",
    "+ flat_parameters: one flat parameter buffer",
    "+ native_first_stage: the first stage as one C kernel",
    "torch.compile",
    "multi-tensor RMSprop, per tensor",
    "adam, flat buffer",
    "adam, fused, per tensor",
)
CUMULATIVE_VARIANTS = 7
