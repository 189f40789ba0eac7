"""The benchmark runs end to end on tiny settings (no timings are asserted anywhere in the suite)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from mnistlab.bench.measure import SPEED_VARIANTS
from mnistlab.cli.main import main


def test_bench_quick_writes_markdown_and_json(tmp_path: Path, data_dir: Path, capsys) -> None:
    out = tmp_path / "benchmarks.md"
    assert main(["bench", "--quick", "--no-keras", "--out", str(out)]) == 0
    text = out.read_text()
    for heading in ("## Training throughput", "## Time to accuracy", "## Inference", "## Speed options tried"):
        assert heading in text
    assert "Peak memory of a training run" in text and "quick settings" in text
    results = json.loads(out.with_suffix(".json").read_text())
    assert set(results["time_to_accuracy"]) == {"fast-99", "fast-995", "nb2-cnn"}
    assert results["machine"]["torch"] == torch.__version__ and results["peak_memory_mib"] > 100
    assert set(results["inference"]) == {"torch", "onnx"}
    assert all(v["images_per_second"] > 0 for v in results["inference"].values())
    assert results["throughput"]["notebook CNN"]["epochs"] == 2
    assert list(results["speed_options"]) == [v for v in SPEED_VARIANTS if v != "torch.compile"]
    assert all(ms > 0 for ms in results["speed_options"].values())
    assert set(results["precision"]) == {"CNN", "MLP"} and results["keras"] == {}
