"""Training: learning on a slice, determinism, early stopping, augmentation, interruption, optimizers."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mnistlab import MnistlabError, TrainConfig, load_dataset, train
from mnistlab.config import AUGMENT_DEFAULTS, SPEEDUP_DEFAULTS
from mnistlab.training.augment import Augmentation
from mnistlab.training.interrupt import StopFlag
from mnistlab.training.flat import flatten_parameters, unflatten_parameters
from mnistlab.training.loop import Optimization, evaluate_tensors, fit, train_step
from mnistlab.training.optimizers import make_optimizer
from mnistlab.training.progress import Progress
from mnistlab.data.preprocess import prepare_images, to_tensors
from mnistlab import device
from mnistlab.device import autocast_dtype, resolve_device
from mnistlab.models.data_init import pca_filters
from mnistlab.models.zoo import build_model

QUIET = Progress(quiet=True)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def digits_config(**overrides) -> TrainConfig:
    values = {"name": "t", "dataset": "digits", "model": "mlp-128-64-32", "optimizer": "adam", "batch_size": 32, "epochs": 3}
    return TrainConfig(**{**values, **overrides})


def test_short_training_learns(tmp_path: Path, digits) -> None:
    run = train(digits_config(), out=tmp_path / "run", progress=QUIET, dataset=digits)
    assert run.metrics["test_accuracy"] > 0.85  # chance is 0.10
    assert [row["epoch"] for row in run.history] == [1, 2, 3]
    assert run.history[-1]["loss"] < run.history[0]["loss"]
    assert run.metrics["status"] == "completed" and run.metrics["params"] == 18_986


def test_cnn_one_epoch_on_an_mnist_slice(tmp_path: Path, mnist) -> None:
    config = TrainConfig(name="cnn", model="cnn", epochs=1, limit=2000, batch_size=64)
    run = train(config, out=tmp_path / "run", progress=QUIET, dataset=mnist)
    assert run.metrics["dataset"] == {"name": "mnist", "train": 2000, "test": 10000}
    assert run.metrics["test_accuracy"] > 0.6


def test_same_seed_same_history(tmp_path: Path, digits) -> None:
    def history(seed: int, folder: str) -> list[tuple]:
        config = digits_config(seed=seed, model="mlp-128-64-32-dropout", epochs=2)
        run = train(config, out=tmp_path / folder, progress=QUIET, dataset=digits)
        return [(r["loss"], r["accuracy"], r["val_loss"], r["val_accuracy"]) for r in run.history]

    assert history(7, "a") == history(7, "b")
    assert history(7, "a") != history(8, "c")


def test_early_stopping_restores_best_epoch(tmp_path: Path, digits) -> None:
    # A learning rate this high makes validation loss rise quickly after its best epoch.
    config = digits_config(
        epochs=30, lr=0.01, validation=0.2,
        early_stopping={"monitor": "val_loss", "patience": 2, "restore_best_weights": True},
    )
    run = train(config, out=tmp_path / "run", progress=QUIET, dataset=digits)
    best = run.metrics["best_epoch"]
    assert run.metrics["status"] == "early_stopped"
    assert run.metrics["epochs_run"] == best + 2
    assert run.history[best - 1]["val_loss"] == min(r["val_loss"] for r in run.history)
    assert run.metrics["restored_best_weights"] is True
    # the saved model is the best epoch's: its validation loss matches that epoch's row
    net = run.network
    data = to_tensors(digits, flat=True, validation=0.2, seed=config.seed)
    with torch.inference_mode():
        val_loss = torch.nn.functional.cross_entropy(net(data.x_val), data.y_val).item()
    assert val_loss == pytest.approx(run.history[best - 1]["val_loss"], rel=1e-4)


def test_early_stopping_needs_validation(digits) -> None:
    config = digits_config(validation="none", early_stopping={"monitor": "val_loss", "patience": 1})
    with pytest.raises(MnistlabError, match="validation is 'none'"):
        train(config, progress=QUIET, dataset=digits)


def test_interrupt_stops_after_current_batch(digits) -> None:
    net = build_model("mlp-128-64-32", image_shape=(8, 8))
    data = to_tensors(digits, flat=True)
    stop = StopFlag()
    stop.requested = True
    result = fit(net, data, Optimization(make_optimizer("adam", net.parameters())), epochs=5, batch_size=32, callbacks=[stop])
    assert result.status == "interrupted" and len(result.history) == 1


def test_augmentation_moves_pixels_but_keeps_shape() -> None:
    torch.manual_seed(0)
    images = torch.zeros(16, 1, 28, 28)
    images[:, :, 10:18, 12:16] = 1.0
    warped = Augmentation(**AUGMENT_DEFAULTS)(images)
    assert warped.shape == images.shape
    assert not torch.allclose(warped, images)
    assert warped.sum(dim=(1, 2, 3)).sub(images.sum(dim=(1, 2, 3))).abs().max() < 16  # ink is moved, not lost
    identity = Augmentation(rotation=0, shift=0, shear=0, zoom=0)(images)
    assert torch.allclose(identity, images, atol=1e-5)


def test_horizontal_flip_mirrors_about_half_the_images() -> None:
    torch.manual_seed(0)
    images = torch.zeros(200, 1, 28, 28)
    images[:, :, 8:20, 3:9] = 1.0  # ink on the left
    flipped = Augmentation(rotation=0, shift=0, shear=0, zoom=0, horizontal_flip=True)(images)
    mirrored = [torch.allclose(f, i.flip(-1), atol=1e-5) for f, i in zip(flipped, images)]
    kept = [torch.allclose(f, i, atol=1e-5) for f, i in zip(flipped, images)]
    assert all(m != k for m, k in zip(mirrored, kept))  # each image is itself or its mirror, nothing in between
    assert 70 < sum(mirrored) < 130


def whole_pixel_shift_of(image: torch.Tensor, original: torch.Tensor) -> tuple[int, int, bool] | None:
    """(rows, columns, mirrored) of the whole-pixel shift (edges filled with the nearest pixel) that gives ``image``, if any."""
    for mirrored in (False, True):
        padded = F.pad((original.flip(-1) if mirrored else original)[None], (4, 4, 4, 4), mode="replicate")[0]
        for rows, columns in itertools.product(range(-4, 5), repeat=2):
            if torch.allclose(padded[..., 4 - rows : 32 - rows, 4 - columns : 32 - columns], image, atol=1e-5):
                return rows, columns, mirrored
    return None


def test_whole_pixel_shifts_move_images_by_whole_pixels_and_keep_them_sharp() -> None:
    torch.manual_seed(0)
    images = torch.rand(64, 1, 28, 28)  # every pixel different: a blend of neighbours is no shift
    whole = Augmentation(rotation=0, shift=0.08, shear=0, zoom=0, horizontal_flip=True, whole_pixel_shifts=True)(images)
    found = [whole_pixel_shift_of(w, i) for w, i in zip(whole, images)]
    assert None not in found
    assert {r for r, _, _ in found} == {c for _, c, _ in found} == set(range(-2, 3))  # 0.08 of 28 pixels: up to 2 either way
    assert {m for *_, m in found} == {False, True}
    fractional = Augmentation(rotation=0, shift=0.08, shear=0, zoom=0)(images)
    assert all(whole_pixel_shift_of(f, i) is None for f, i in zip(fractional, images))  # blurred between pixels


def test_training_with_augmentation_sees_warped_images(tmp_path: Path, mnist) -> None:
    config = TrainConfig(name="aug", model="cnn", epochs=1, limit=256, augment={}, optimizer="adam", batch_size=128)
    warped = train(config, out=tmp_path / "warped", progress=QUIET, dataset=mnist)
    plain = train(TrainConfig(**{**config.to_dict(), "augment": None}),
                  out=tmp_path / "plain", progress=QUIET, dataset=mnist)
    assert warped.config.augment == AUGMENT_DEFAULTS and plain.config.augment is None
    # same seed, same batches: only the warp can make the first epoch's loss differ
    assert warped.history[0]["loss"] != pytest.approx(plain.history[0]["loss"], abs=1e-6)


def test_keras_optimizer_defaults() -> None:
    params = [torch.nn.Parameter(torch.zeros(1))]
    assert make_optimizer("sgd", params).defaults["lr"] == 0.01
    rms = make_optimizer("rmsprop", params).defaults
    assert (rms["lr"], rms["rho"], rms["eps"]) == (0.001, 0.9, 1e-7)
    adam = make_optimizer("adam", params, lr=0.005).defaults
    assert (adam["lr"], adam["betas"], adam["eps"]) == (0.005, (0.9, 0.999), 1e-7)


# Three steps of Keras 3.15's own RMSprop() and Adam() on these weights and gradients, printed by
# Keras (TensorFlow backend): small gradients are where Keras's epsilon placement shows (torch's
# RMSprop moves the first weight to 0.99484, Keras to 0.99908).
KERAS_GRADIENTS = [[1e-4, -2e-3, 0.5, 0.0], [3e-4, 1e-3, -0.25, 1e-5], [-1e-4, 5e-3, 0.1, -1e-5]]
KERAS_AFTER = {
    "rmsprop": [0.999082088470459, -1.0013879537582397, 0.49770215153694153, 2.0],
    "adam": [0.9976428747177124, -0.9992345571517944, 0.4984184205532074, 1.999471664428711],
}


@pytest.mark.parametrize("name", sorted(KERAS_AFTER))
def test_optimizers_match_keras_updates(name: str) -> None:
    weights = torch.nn.Parameter(torch.tensor([1.0, -1.0, 0.5, 2.0]))
    optimizer = make_optimizer(name, [weights])
    for gradient in KERAS_GRADIENTS:
        weights.grad = torch.tensor(gradient)
        optimizer.step()
    torch.testing.assert_close(weights.detach(), torch.tensor(KERAS_AFTER[name]), rtol=0, atol=2.5e-7)


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adam"])
def test_weight_decay_is_keras_decoupled_shrink_before_each_update(name: str) -> None:
    # With zero gradients the updates themselves are zero, so only the decay moves the weights: by
    # lr * weight_decay of themselves each step, even through SGD's momentum (which torch's own
    # weight_decay would feed, shrinking them faster and faster).
    start = torch.tensor([1.0, -1.0, 0.5, 2.0])
    weights = torch.nn.Parameter(start.clone())
    optimizer = make_optimizer(name, [weights], lr=0.1, weight_decay=0.5)
    if name == "sgd":
        optimizer.param_groups[0]["momentum"] = 0.9  # as a one-cycle schedule sets it
    for _ in range(3):
        weights.grad = torch.zeros(4)
        optimizer.step()
    torch.testing.assert_close(weights.detach(), start * 0.95**3, rtol=1e-6, atol=0)


def test_weight_decay_zero_leaves_the_updates_as_keras_computes_them() -> None:
    weights = torch.nn.Parameter(torch.tensor([1.0, -1.0, 0.5, 2.0]))
    optimizer = make_optimizer("adam", [weights], weight_decay=0.0)
    for gradient in KERAS_GRADIENTS:
        weights.grad = torch.tensor(gradient)
        optimizer.step()
    torch.testing.assert_close(weights.detach(), torch.tensor(KERAS_AFTER["adam"]), rtol=0, atol=2.5e-7)


def test_training_with_weight_decay_ends_with_smaller_weights(tmp_path: Path, digits) -> None:
    norms = []
    for decay in (0.0, 5.0):
        run = train(digits_config(weight_decay=decay, epochs=2), out=tmp_path / str(decay), progress=QUIET, dataset=digits)
        norms.append(sum(float(p.detach().norm()) for p in run.network.parameters()))
        assert run.config.weight_decay == decay
    assert norms[1] < 0.8 * norms[0]


def test_label_smoothing_trains_towards_keras_smoothed_targets() -> None:
    # Keras's CategoricalCrossentropy(label_smoothing=s): targets 1 - s + s / K on the label, s / K elsewhere.
    torch.manual_seed(0)
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    for smoothing in (0.0, 0.3):
        network = torch.nn.Linear(4, 3)
        logits = network(x).detach()
        targets = torch.nn.functional.one_hot(y, 3) * (1 - smoothing) + smoothing / 3
        expected_loss = -(targets * logits.log_softmax(1)).sum(1).mean()
        expected_step = (logits.softmax(1) - targets).T @ x / len(x)  # the mean loss's gradient for the weights
        weights = network.weight.detach().clone()
        optimizer = torch.optim.SGD(network.parameters(), lr=1.0)
        summed, _ = train_step(network, x, y, optimizer, None, label_smoothing=smoothing)
        torch.testing.assert_close(summed / len(y), expected_loss)
        torch.testing.assert_close(weights - network.weight.detach(), expected_step)


def test_a_run_trained_with_label_smoothing_is_never_sure(tmp_path: Path, digits) -> None:
    # Smoothing 0.9 over 10 classes makes the best answer 0.19 on the label and 0.09 on every other class.
    top = {}
    for smoothing in (0.0, 0.9):
        run = train(digits_config(label_smoothing=smoothing, epochs=5), out=tmp_path / str(smoothing), progress=QUIET, dataset=digits)
        assert run.config.label_smoothing == smoothing
        with torch.no_grad():
            logits = run.network.eval()(prepare_images(digits.x_train[:500], digits.max_value, flat=True))
        top[smoothing] = logits.softmax(1).max(1).values.mean().item()
    assert top[0.0] > 0.8 and top[0.9] < 0.3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"weight_decay": -0.1}, "weight_decay must be zero or a positive number"),
        ({"label_smoothing": 1.0}, "label_smoothing must be at least 0 and below 1"),
        ({"optimizer": "adagrad"}, "optimizer must be one of sgd, rmsprop, adam"),
        ({"schedule": "onecycle", "lr": 0.01}, "give its peak as peak_lr"),
        ({"peak_lr": 0.01}, "with a constant schedule give lr"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"validation": "half"}, "validation must be"),
        ({"device": "tpu"}, "device must be"),
        ({"early_stopping": {"monitor": "val_f1"}}, "early_stopping monitor must be one of loss"),
        ({"augment": {"flip": True}}, "unknown setting"),
    ],
)
def test_bad_config(values: dict, message: str) -> None:
    with pytest.raises(MnistlabError, match=message):
        TrainConfig(**values)


def test_cuda_device_choice() -> None:
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda" and resolve_device("auto").type == "cuda"
    else:
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(MnistlabError, match="no CUDA device"):
            resolve_device("cuda")


def test_frozen_layers_stay_fixed_in_training(tmp_path: Path, mnist) -> None:
    frozen = {"type": "conv2d", "filters": 4, "kernel_size": 4, "strides": 2, "activation": "relu", "trainable": False}
    model = [frozen, {"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}]
    config = TrainConfig(name="frozen", model=model, optimizer="adam", epochs=2, limit=3000, seed=3)
    run = train(config, out=tmp_path / "run", progress=QUIET, dataset=mnist)
    torch.manual_seed(3)
    initial = build_model(model)
    assert torch.equal(run.network.layers[0][0].weight, initial.layers[0][0].weight)
    assert not torch.equal(run.network.layers[2].weight, initial.layers[2].weight)
    assert run.metrics["test_accuracy"] > 0.7  # the dense layer learns on fixed random features (chance: 0.1)


def test_a_frozen_pca_stem_holds_its_training_images_principal_directions(tmp_path: Path, mnist) -> None:
    stem = {"type": "conv2d", "filters": 8, "kernel_size": 4, "strides": 2, "activation": "relu", "trainable": False,
            "kernel_initializer": "pca"}
    model = [stem, {"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}]
    config = TrainConfig(name="pca", model=model, optimizer="adam", epochs=1, limit=3000, seed=0)
    run = train(config, out=tmp_path / "run", progress=QUIET, dataset=mnist)
    conv = run.network.layers[0][0]
    images = prepare_images(mnist.x_train[:3000], mnist.max_value, flat=False)
    assert torch.allclose(conv.weight, pca_filters(images, conv), atol=1e-6) and not conv.bias.any()
    filters = conv.weight.flatten(1)[:4]
    assert torch.allclose(filters @ filters.T, torch.eye(4), atol=1e-5)  # orthonormal directions
    assert run.metrics["setup_seconds"] > 0
    assert run.metrics["test_accuracy"] > 0.8


def test_a_model_with_every_layer_frozen_is_refused(mnist) -> None:
    frozen = {"type": "conv2d", "filters": 4, "kernel_size": 4, "strides": 2, "activation": "relu", "trainable": False}
    model = [frozen, {"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax", "trainable": False}]
    with pytest.raises(MnistlabError, match="every layer of the model is frozen"):
        train(TrainConfig(name="frozen", model=model, epochs=1, limit=500), progress=QUIET, dataset=mnist)


def test_bf16_validation_agrees_with_fp32(mnist) -> None:
    torch.manual_seed(0)
    network = build_model("cnn").to(memory_format=torch.channels_last)
    data = to_tensors(mnist, flat=False, validation="none", seed=0, device=resolve_device("cpu"))
    data.x_train, data.y_train = data.x_train[:6000], data.y_train[:6000]
    fit(network, data, Optimization(make_optimizer("adam", network.parameters())), 1, 128)
    x, y = data.x_test[:2000], data.y_test[:2000]
    loss32, accuracy32 = evaluate_tensors(network, x, y)
    loss16, accuracy16 = evaluate_tensors(network, x, y, autocast=torch.bfloat16)
    assert accuracy32 > 0.8
    assert abs(accuracy16 - accuracy32) <= 0.005 and abs(loss16 - loss32) < 0.02


def test_speedups_switched_off_are_off(tmp_path: Path, mnist) -> None:
    """Each speed-up changes how, never what: switched off, the notebook CNN trains to the same history
    (float tolerance: the native kernel sums in another order); the resolved config records the switches."""
    off = dict.fromkeys(SPEEDUP_DEFAULTS, False)
    histories = []
    for speedups in (None, off):
        config = TrainConfig(model="cnn", epochs=1, limit=512, validation="none", precision="fp32", speedups=speedups)
        run = train(config, out=tmp_path / str(bool(speedups)), progress=QUIET, dataset=mnist)
        assert run.config.speedups == (off if speedups else SPEEDUP_DEFAULTS)
        histories.append(run.history[0])
    assert histories[0]["loss"] == pytest.approx(histories[1]["loss"], rel=1e-4)


@pytest.mark.parametrize(("flags", "amx"), [("fpu sse avx512f amx_bf16 amx_tile amx_int8", True), ("fpu sse avx2 fma", False)])
def test_auto_precision_is_bf16_for_cnns_on_amx_cpus_only(monkeypatch: pytest.MonkeyPatch, flags: str, amx: bool) -> None:
    """/proc/cpuinfo's flags decide: an AMX CPU trains CNNs in bf16, MLPs never (measured slower for the notebooks')."""
    monkeypatch.setattr(device, "_cpu_info", lambda: ("processor\t: 0", "model name\t: Some CPU", f"flags\t\t: {flags}"))
    cpu = resolve_device("cpu")
    assert device.cpu_has_amx() is amx
    assert autocast_dtype("auto", cpu, convolutional=True) == (torch.bfloat16 if amx else None)
    assert autocast_dtype("auto", cpu, convolutional=False) is None
    assert autocast_dtype("fp32", cpu) is None and autocast_dtype("bf16", cpu, convolutional=False) == torch.bfloat16


@pytest.mark.parametrize(("flags", "name"), [("fpu avx2 avx512f amx_bf16 amx_tile", "Some CPU, AMX"), ("fpu avx2 avx512f", "Some CPU, AVX-512"),
                                             ("fpu avx avx2 fma", "Some CPU, AVX2"), ("fpu sse2", "Some CPU")])
def test_the_cpu_name_tells_apart_machines_of_one_model_name_by_their_vector_units(monkeypatch: pytest.MonkeyPatch, flags: str, name: str) -> None:
    monkeypatch.setattr(device, "_cpu_info", lambda: ("processor\t: 0", "model name\t: Some CPU", f"flags\t\t: {flags}"))
    assert device.cpu_name() == name


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam"])
def test_one_flat_parameter_buffer_trains_exactly_as_separate_tensors(mnist, optimizer: str) -> None:
    data = to_tensors(mnist, flat=False, validation="none", seed=0, device=resolve_device("cpu"))
    data.x_train, data.y_train = data.x_train[:640], data.y_train[:640]
    networks = []
    for flat in (False, True):
        torch.manual_seed(0)
        network = build_model("cnn").to(memory_format=torch.channels_last)
        params = list(network.parameters())
        fit(network, data, Optimization(make_optimizer(optimizer, [flatten_parameters(params)] if flat else params)), epochs=2, batch_size=64)
        networks.append(network)
    separate, flat = networks
    for a, b in zip(separate.parameters(), flat.parameters(), strict=True):
        assert torch.equal(a, b) and a.stride() == b.stride()  # conv weights stay channels-last
    assert len({p.untyped_storage().data_ptr() for p in flat.parameters()}) == 1
    unflatten_parameters(list(flat.parameters()))
    assert len({p.untyped_storage().data_ptr() for p in flat.parameters()}) == len(list(flat.parameters()))
    assert all(p.grad is None for p in flat.parameters())
