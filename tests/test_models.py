"""The notebook zoo: parameter counts exactly as the notebooks' Keras summaries, and layer specs."""

from __future__ import annotations

import pytest
import torch

from mnistlab import MnistlabError, build_model, count_params, summary
from mnistlab.cli.main import main
from mnistlab.models.data_init import pca_filters
from mnistlab.models.dense import Dense
from mnistlab.models.layers import Flatten
from mnistlab.models.zoo import ZOO

EXPECTED_PARAMS = {
    "mlp-64-tanh": 50_890,
    "mlp-64-32-tanh": 52_650,
    "mlp-64-32-relu": 52_650,
    "mlp-512": 407_050,
    "cnn": 93_322,
    "mlp-512-512": 669_706,
    "mlp-512-512-dropout": 669_706,
    "cnn-bn": 597_738,
    "mlp-128-64-32": 111_146,
    "mlp-128-64-32-dropout": 111_146,
}


def test_zoo_is_the_expected_list() -> None:
    assert set(ZOO) == set(EXPECTED_PARAMS)


@pytest.mark.parametrize(("name", "params"), EXPECTED_PARAMS.items())
def test_parameter_counts(name: str, params: int) -> None:
    """The built network has the Keras summary's count, and so does the zoo's declared one (which `mnistlab models` shows)."""
    assert count_params(build_model(name)).total == params == ZOO[name].params


def test_batch_norm_moving_statistics_are_non_trainable() -> None:
    counts = count_params(build_model("cnn-bn"))
    # moving mean + variance of 32+32+64+64+512 channels
    assert counts.non_trainable == 2 * (32 + 32 + 64 + 64 + 512) == 1_408
    assert counts.trainable == 597_738 - 1_408


def test_keras_initialization() -> None:
    net = build_model("mlp-512")
    linear = net.layers[0][0]
    bound = (6 / (784 + 512)) ** 0.5
    assert torch.all(linear.bias == 0)
    assert linear.weight.abs().max() <= bound and linear.weight.abs().max() > 0.9 * bound


def test_summary_text() -> None:
    text = summary(build_model("cnn"), name="cnn")
    assert "conv2d (Conv2D)" in text and "(None, 64, 3, 3)" in text
    assert "Total params: 93,322" in text and "Non-trainable params: 0" in text


def test_summary_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "cnn-bn"]) == 0
    out = capsys.readouterr().out
    assert "Total params: 597,738" in out and "Non-trainable params: 1,408" in out


def test_digits_input_size() -> None:
    assert count_params(build_model("mlp-128-64-32", image_shape=(8, 8))).total == 18_986


def test_custom_layers_in_python() -> None:
    layers = [
        {"type": "conv2d", "filters": 8, "kernel_size": 3, "activation": "relu"},
        {"type": "maxpool2d"},
        {"type": "flatten"},
        {"type": "dense", "units": 3, "activation": "softmax"},
    ]
    net = build_model(layers, num_classes=3)
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 3)
    assert count_params(net).total == 8 * 9 + 8 + 13 * 13 * 8 * 3 + 3


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([{"type": "lstm"}], "unknown type 'lstm'"),
        ([{"type": "dense", "units": 10, "activation": "softmax", "size": 3}], "unknown key"),
        ([{"type": "dense"}], "missing units"),
        ([{"type": "conv2d", "filters": 4}, {"type": "dense", "units": 10, "activation": "softmax"}], "add {type = 'flatten'}"),
        ([{"type": "dense", "units": 5, "activation": "softmax"}, {"type": "dense", "units": 10}], "softmax is only allowed on the last layer"),
        ([{"type": "dense", "units": 7, "activation": "softmax"}], "7 units but the dataset has 10 classes"),
        ([{"type": "dense", "units": 10, "activation": "swish"}], "unknown activation"),
    ],
)
def test_bad_layer_specs(layers: list[dict], message: str) -> None:
    with pytest.raises(MnistlabError, match=message):
        build_model(layers)


def test_unknown_model_name() -> None:
    with pytest.raises(MnistlabError, match="unknown model 'resnet'"):
        build_model("resnet")


@pytest.mark.parametrize("name", ["cnn", "cnn-bn"])
def test_pooling_before_the_activation_changes_nothing(name: str) -> None:
    # forward() pools before a conv's activation; applying the layers one by one is the reference.
    torch.manual_seed(0)
    net = build_model(name).eval()
    assert net._pool_first, "the zoo's CNNs have activation-then-pool pairs to reorder"
    x = torch.randn(4, 1, 28, 28, requires_grad=True)
    fast = net(x)
    (fast_grad,) = torch.autograd.grad(fast.square().sum(), x)
    reference = x
    for layer in net.layers:
        reference = layer(reference)
    (reference_grad,) = torch.autograd.grad(reference.square().sum(), x)
    assert torch.equal(fast, reference) and torch.equal(fast_grad, reference_grad)
    logits, features = net.logits_and_features(x)
    reference_features = x
    for layer in net.layers[: net.feature_layer + 1]:
        reference_features = layer(reference_features)
    assert torch.equal(logits, reference) and torch.equal(features, reference_features.flatten(1))


def test_flatten_hands_a_channels_last_gradient_back_unchanged_in_value() -> None:
    # Elementwise backward ops on mixed layouts take a slow path; Flatten keeps the layout.
    x = torch.randn(4, 8, 5, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    grads = {}
    for name, flatten in (("ours", Flatten()), ("torch", torch.nn.Flatten())):
        hidden = x * 2  # a non-leaf keeps the layout autograd hands it
        hidden.register_hook(lambda g, name=name: grads.__setitem__(name, g))
        out = flatten(hidden)
        assert torch.equal(out, hidden.contiguous().flatten(1))
        out.pow(2).sum().backward()
    assert grads["ours"].is_contiguous(memory_format=torch.channels_last) and not grads["torch"].is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(grads["ours"], grads["torch"])


def test_strided_convolution_shapes() -> None:
    layers = [
        {"type": "conv2d", "filters": 8, "kernel_size": 4, "strides": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 10, "activation": "softmax"},
    ]
    net = build_model(layers)
    assert net.built[0].output_shape == (8, 13, 13)  # (28 - 4) // 2 + 1, as Keras computes it
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_strided_same_padding_follows_keras() -> None:
    """Keras's "same" with strides 2: output ceil(28 / 2) = 14, the 3 pixels of padding split 1 before, 2 after."""
    layers = [
        {"type": "conv2d", "filters": 8, "kernel_size": 5, "strides": 2, "padding": "same"},
        {"type": "maxpool2d", "pool_size": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 10, "activation": "softmax"},
    ]
    net = build_model(layers)
    assert net.built[0].output_shape == (8, 14, 14)
    conv = net.layers[0]
    x = torch.randn(2, 1, 28, 28)
    expected = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 2, 1, 2)), conv.weight, conv.bias, stride=2)
    assert torch.allclose(conv(x), expected, atol=1e-6)
    one_by_one = x
    for layer in net.layers:  # what the network's own forward (which may pool before an activation) must equal
        one_by_one = layer(one_by_one)
    assert torch.allclose(net(x), one_by_one, atol=1e-6)


def test_frozen_layer_keeps_its_initial_weights() -> None:
    layers = [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu", "trainable": False},
        {"type": "flatten"},
        {"type": "dense", "units": 10, "activation": "softmax"},
    ]
    net = build_model(layers)
    counts = count_params(net)
    assert counts.non_trainable == 4 * 9 + 4 and counts.trainable == 26 * 26 * 4 * 10 + 10
    assert "Non-trainable params: 40" in summary(net)
    with pytest.raises(MnistlabError, match="trainable must be true or false"):
        build_model([{**layers[0], "trainable": "no"}, *layers[1:]])


def test_pca_filters_are_the_patches_principal_directions_in_sign_pairs() -> None:
    strong, weak = torch.tensor([1.0, 1, 1, 1]) / 2, torch.tensor([1.0, -1, 1, -1]) / 2
    amounts = torch.tensor([[3.0, 1], [3, -1], [-3, 1], [-3, -1]]).repeat(100, 1)  # uncorrelated, 9x the variance
    patches = amounts[:, :1] * strong + amounts[:, 1:] * weak  # (400, 4): 2x2 patches along two directions
    images = patches.reshape(100, 2, 2, 2, 2).permute(0, 1, 3, 2, 4).reshape(100, 1, 4, 4)  # 4 patches per image
    conv = torch.nn.Conv2d(1, 4, 2, stride=2)
    filters = pca_filters(images, conv).reshape(4, 4)
    assert torch.allclose(filters[2:], -filters[:2])
    agreement = (filters[:2] @ torch.stack([strong, weak]).T).abs()  # |cosine| of each filter with each direction
    assert torch.allclose(agreement, torch.eye(2), atol=1e-5)  # the strongest direction first


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"filters": 7}, "filters must be even and at most 18"),
        ({"filters": 20}, "filters must be even and at most 18"),
        ({"kernel_initializer": "he"}, "unknown kernel_initializer 'he'; choose one of glorot_uniform, pca"),
    ],
)
def test_bad_pca_layers_are_refused(change: dict, message: str) -> None:
    stem = {"type": "conv2d", "filters": 8, "kernel_size": 3, "kernel_initializer": "pca", **change}
    with pytest.raises(MnistlabError, match=message):
        build_model([stem, {"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}])


def test_only_the_first_layer_may_take_pca_filters() -> None:
    later = {"type": "conv2d", "filters": 8, "kernel_size": 3, "kernel_initializer": "pca"}
    first = {"type": "conv2d", "filters": 4, "kernel_size": 3}
    with pytest.raises(MnistlabError, match="layer 1 \\(conv2d\\): kernel_initializer 'pca' is computed from the images"):
        build_model([first, later, {"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}])


def test_dense_runs_small_products_in_fp32_under_cpu_autocast() -> None:
    torch.manual_seed(0)
    layer = Dense(576, 64)
    small = torch.randn(64, 576).bfloat16()  # the notebook CNN's head at batch 64
    large = torch.randn(Dense.small_product // (576 * 64) + 1, 576).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        small_out, large_out = layer(small), layer(large)
    assert small_out.dtype == torch.float32
    assert torch.equal(small_out, torch.nn.functional.linear(small.float(), layer.weight, layer.bias))
    assert large_out.dtype == torch.bfloat16
