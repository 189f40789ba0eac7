"""The benchmark runs end to end on tiny settings (no timings are asserted anywhere in the suite)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from mnistlab.keras_reference.environment import Lockstep
from mnistlab.bench.measure import SPEED_VARIANTS
from mnistlab.cli.main import main
from mnistlab.errors import MnistlabError


def test_bench_quick_writes_markdown_and_json(tmp_path: Path, data_dir: Path, capsys) -> None:
    out = tmp_path / "benchmarks.md"
    assert main(["bench", "--quick", "--no-keras", "--out", str(out)]) == 0
    text = out.read_text()
    for heading in ("## Training throughput", "## Time to accuracy", "## Inference", "## Speed options tried"):
        assert heading in text
    assert "Peak memory of a training run" in text and "quick settings" in text
    results = json.loads(out.with_suffix(".json").read_text())
    assert set(results["time_to_accuracy"]) == {"fast-99", "fast-995", "001-cnn"}
    assert results["machine"]["torch"] == torch.__version__ and results["peak_memory_mib"] > 100
    assert set(results["inference"]) == {"torch", "onnx"}
    assert all(v["images_per_second"] > 0 for v in results["inference"].values())
    assert results["throughput"]["notebook CNN"]["epochs"] == 2
    assert list(results["speed_options"]) == [v for v in SPEED_VARIANTS if v != "torch.compile"]
    assert all(ms > 0 for ms in results["speed_options"].values())
    assert set(results["precision"]) == {"CNN", "MLP"} and results["keras"] == {}


# A stand-in for bench_models.py --lockstep (the real one needs TensorFlow): it logs when each
# of its epochs starts, so the test sees whether it waited for its turn.
STAND_IN = """
import json, sys
log = open(sys.argv[1], "a")
print("TensorFlow-style noise that is not JSON")
print(json.dumps({"ready": True}), flush=True)
for epoch in (1, 2, 3):
    sys.stdin.readline()
    log.write(f"theirs {epoch}\\n"); log.flush()
    print(json.dumps({"epoch": epoch, "seconds": 0.5 * epoch}), flush=True)
print(json.dumps({"epochs": 3, "test_accuracy": 0.99}), flush=True)
"""


def test_lockstep_alternates_epochs_with_the_reference_process(tmp_path: Path) -> None:
    script, log = tmp_path / "stand_in.py", tmp_path / "order.log"
    script.write_text(STAND_IN)
    with Lockstep([sys.executable, str(script), str(log)]) as reference:
        seconds = []
        for epoch in (1, 2, 3):
            with log.open("a") as handle:
                handle.write(f"ours {epoch}\n")
            seconds.append(reference.epoch())
        result = reference.result()
    assert log.read_text().split("\n")[:-1] == ["ours 1", "theirs 1", "ours 2", "theirs 2", "ours 3", "theirs 3"]
    assert seconds == [0.5, 1.0, 1.5] and result == {"epochs": 3, "test_accuracy": 0.99}


def test_lockstep_reports_a_failed_reference_in_one_line(tmp_path: Path) -> None:
    script = tmp_path / "failing.py"
    script.write_text('import json, sys\nprint(json.dumps({"ready": True}), flush=True)\nsys.stdin.readline()\n'
                      'sys.stderr.write("Traceback ...\\nValueError: no AVX here\\n")\nsys.exit(3)\n')
    with Lockstep([sys.executable, str(script)]) as reference:
        with pytest.raises(MnistlabError, match=r"the Keras reference failed \(exit code 3\): ValueError: no AVX here$"):
            reference.epoch()
