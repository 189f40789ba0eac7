"""The native first stage (conv 3x3 -> max pool 2 -> relu in one C kernel) against the same layers in torch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mnistlab import native
from mnistlab.models.first_stage import first_stage, fusable, usable
from mnistlab.models.network import Network
from mnistlab.models.zoo import ZOO, build_model


def stack(filters: int, height: int, width: int) -> Network:
    layers = [{"type": "conv2d", "filters": filters, "kernel_size": 3, "activation": "relu"},
              {"type": "maxpool2d", "pool_size": 2}, {"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}]
    return Network(layers, (1, height, width))


def logits_and_grads(network: Network, x: torch.Tensor, fused: bool, autocast: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
    network.fused_first_stage = fused
    assert not fused or usable(x)  # the native path really runs
    network.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        logits = network(x).float()
    torch.nn.functional.cross_entropy(logits, torch.arange(len(x)) % 10).backward()
    return logits.detach(), [p.grad.clone() for p in network.parameters()]


@pytest.fixture
def kernel_available() -> None:
    if native.kernel("first_stage") is None:
        pytest.fail(f"the native first stage did not build here: {native.unavailable_reason('first_stage')}")


@pytest.mark.parametrize(("filters", "height", "width", "batch"), [(32, 28, 28, 64), (16, 9, 12, 3), (64, 28, 28, 1), (48, 8, 8, 5)])
def test_matches_torch_in_fp32(kernel_available: None, filters: int, height: int, width: int, batch: int) -> None:
    torch.manual_seed(0)
    network = stack(filters, height, width)
    assert network.fused_first_stage
    with torch.no_grad():
        network.layers[0][0].bias.uniform_(-0.1, 0.1)  # non-zero biases, so their gradient and the relu cut are tested
    x = torch.rand(batch, 1, height, width)
    torch_logits, torch_grads = logits_and_grads(network, x, fused=False, autocast=False)
    native_logits, native_grads = logits_and_grads(network, x, fused=True, autocast=False)
    torch.testing.assert_close(native_logits, torch_logits, rtol=1e-5, atol=1e-5)
    for ours, theirs in zip(native_grads, torch_grads, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)


def test_bf16_output_is_the_fp32_result_rounded(kernel_available: None) -> None:
    torch.manual_seed(0)
    network = stack(32, 28, 28)
    conv = network.layers[0][0]
    x = torch.rand(7, 1, 28, 28)
    with torch.no_grad():
        reference = torch.relu(torch.nn.functional.max_pool2d(conv(x), 2))
        exact = first_stage(x, conv)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            rounded = first_stage(x, conv)
    assert exact.dtype == torch.float32 and rounded.dtype == torch.bfloat16
    torch.testing.assert_close(exact, reference, rtol=1e-5, atol=1e-6)
    assert torch.equal(rounded, exact.to(torch.bfloat16))
    assert rounded.is_contiguous(memory_format=torch.channels_last)


def test_gradient_does_not_depend_on_thread_timing(kernel_available: None) -> None:
    torch.manual_seed(0)
    network = stack(32, 28, 28)
    x = torch.rand(64, 1, 28, 28)
    runs = [logits_and_grads(network, x, fused=True, autocast=True)[1] for _ in range(3)]
    assert all(torch.equal(a, b) for run in runs[1:] for a, b in zip(runs[0], run, strict=True))


def test_which_networks_are_fused() -> None:
    assert build_model("cnn").fused_first_stage  # the notebook CNN
    assert not any(build_model(name).fused_first_stage for name in ZOO if name != "cnn")
    conv = {"type": "conv2d", "filters": 32, "kernel_size": 3, "strides": 1, "padding": "valid", "activation": "relu"}
    pool = {"type": "maxpool2d", "pool_size": 2}
    assert fusable([conv, pool], (1, 28, 28))
    assert not fusable([conv, pool], (3, 28, 28))  # colour images
    assert not fusable([{**conv, "kernel_size": 5}, pool], (1, 28, 28))
    assert not fusable([{**conv, "filters": 24}, pool], (1, 28, 28))
    assert not fusable([{**conv, "activation": "tanh"}, pool], (1, 28, 28))
    assert not fusable([{**conv, "strides": 2}, pool], (1, 28, 28))
    assert not fusable([conv, {**pool, "pool_size": 3}], (1, 28, 28))


def test_input_gradients_and_other_devices_use_torch() -> None:
    x = torch.rand(2, 1, 28, 28)
    assert not usable(x.requires_grad_())
    assert not usable(torch.rand(2, 1, 28, 28, dtype=torch.float64))
    assert not usable(torch.rand(2, 1, 28, 28, device="meta"))


@pytest.fixture
def fresh_build(monkeypatch: pytest.MonkeyPatch):
    """Forget the loaded kernel before and after the test, so the test's environment decides."""
    native._load.cache_clear()
    yield monkeypatch
    native._load.cache_clear()


def test_compiled_once_into_the_cache(fresh_build: pytest.MonkeyPatch, isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert native.kernel("first_stage") is not None
    assert capsys.readouterr().err == f"mnistlab: compiling the native first_stage kernel for this CPU, once, into {isolated_home / 'native'}\n"
    built = list((isolated_home / "native").iterdir())
    assert len(built) == 1 and built[0].name.startswith("first_stage-") and built[0].suffix == ".so"
    stamp = built[0].stat().st_mtime_ns
    native._load.cache_clear()  # as a new process would
    assert native.kernel("first_stage") is not None
    assert list((isolated_home / "native").iterdir()) == built and built[0].stat().st_mtime_ns == stamp
    assert capsys.readouterr().err == ""  # loading a built kernel says nothing


@pytest.mark.parametrize(("cc", "reason"), [
    ("/nonexistent/cc", "no C compiler (/nonexistent/cc: No such file or directory)"),
    ("cc -DFIRST_STAGE_BROKEN -include /nonexistent.h", "cc -DFIRST_STAGE_BROKEN -include /nonexistent.h failed to compile first_stage.c:"),
])
def test_without_a_working_compiler_the_network_runs_in_torch(
    fresh_build: pytest.MonkeyPatch, isolated_home: Path, cc: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh_build.setenv("CC", cc)
    assert native.kernel("first_stage") is None and native.kernel("first_stage") is None
    assert native.unavailable_reason("first_stage").startswith(reason)
    notes = [line for line in capsys.readouterr().err.splitlines() if "unavailable" in line]
    assert len(notes) == 1 and reason in notes[0] and notes[0].endswith("those layers run in torch")  # said once
    assert not any(p.is_file() for p in (isolated_home / "native").glob("*"))  # nothing half-written
    network = build_model("cnn")
    assert network.fused_first_stage and not usable(torch.rand(1, 1, 28, 28))
    assert network(torch.rand(4, 1, 28, 28)).shape == (4, 10)


def test_turned_off_by_the_environment(fresh_build: pytest.MonkeyPatch) -> None:
    fresh_build.setenv("MNISTLAB_NATIVE", "0")
    assert native.kernel("first_stage") is None
    assert native.unavailable_reason("first_stage") == "turned off by MNISTLAB_NATIVE=0"


def test_a_filter_count_the_kernel_lacks_is_an_error_not_garbage(kernel_available: None) -> None:
    with pytest.raises(RuntimeError, match="takes 16, 32, 48, 64 filters, not 24"):
        first_stage(torch.rand(2, 1, 28, 28), torch.nn.Conv2d(1, 24, 3))
