"""The IDX reader: good files round-trip, bad ones give one clear error; the canonical files' facts."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from mnistlab import MnistlabError, load_dataset
from mnistlab.data.idx import read_idx, read_idx_pair, write_idx


@pytest.mark.parametrize("name", ["images.idx", "images.idx.gz"])
def test_round_trip_plain_and_gzip(tmp_path: Path, name: str) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / name, images)
    back = read_idx(tmp_path / name, ndim=3)
    assert back.shape == (2, 3, 4) and back.dtype == np.uint8
    np.testing.assert_array_equal(back, images)


def _raw(path: Path, payload: bytes) -> Path:
    path.write_bytes(payload)
    return path


def test_bad_magic(tmp_path: Path) -> None:
    path = _raw(tmp_path / "bad", b"\x12\x34\x08\x01" + struct.pack(">I", 2) + b"\x00\x01")
    with pytest.raises(MnistlabError, match="bad IDX magic"):
        read_idx(path)


def test_truncated_data(tmp_path: Path) -> None:
    path = _raw(tmp_path / "short", struct.pack(">HBB", 0, 8, 3) + struct.pack(">3I", 10, 28, 28) + bytes(100))
    with pytest.raises(MnistlabError, match="truncated"):
        read_idx(path)


def test_truncated_header(tmp_path: Path) -> None:
    path = _raw(tmp_path / "short", struct.pack(">HBB", 0, 8, 3) + b"\x00\x00")
    with pytest.raises(MnistlabError, match="truncated inside its IDX header"):
        read_idx(path)


def test_extra_bytes(tmp_path: Path) -> None:
    path = _raw(tmp_path / "long", struct.pack(">HBB", 0, 8, 1) + struct.pack(">I", 3) + bytes(5))
    with pytest.raises(MnistlabError, match="longer than its header says"):
        read_idx(path)


def test_truncated_gzip(tmp_path: Path) -> None:
    full = gzip.compress(struct.pack(">HBB", 0, 8, 1) + struct.pack(">I", 1000) + bytes(1000))
    path = _raw(tmp_path / "cut.gz", full[: len(full) // 2])
    with pytest.raises(MnistlabError, match="not a valid gzip file"):
        read_idx(path)


def test_swapped_files_are_named(tmp_path: Path) -> None:
    write_idx(tmp_path / "labels.gz", np.zeros(5, dtype=np.uint8))
    with pytest.raises(MnistlabError, match="expected 3-D images; are the files swapped"):
        read_idx(tmp_path / "labels.gz", ndim=3)


def test_mismatched_counts(tmp_path: Path) -> None:
    write_idx(tmp_path / "images.gz", np.zeros((5, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "labels.gz", np.zeros(4, dtype=np.uint8))
    with pytest.raises(MnistlabError, match="5 images but .* 4 labels"):
        read_idx_pair(tmp_path / "images.gz", tmp_path / "labels.gz")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MnistlabError, match="does not exist"):
        read_idx(tmp_path / "nope.gz")


def test_canonical_mnist_facts(data_dir: Path) -> None:
    ds = load_dataset("mnist")
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert ds.x_train.dtype == np.uint8
    assert ds.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(ds.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(ds.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert Path(ds.source) == data_dir / "mnist"


def test_canonical_fashion_facts(data_dir: Path) -> None:
    ds = load_dataset("fashion-mnist")
    assert ds.y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert ds.y_test[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert set(np.bincount(ds.y_train).tolist()) == {6000}
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"


def test_digits_holdout_is_stratified_and_fixed() -> None:
    first, second = load_dataset("digits"), load_dataset("digits")
    assert first.x_train.shape == (1617, 8, 8) and first.x_test.shape == (180, 8, 8)
    assert first.max_value == 16 and first.x_train.max() == 16
    np.testing.assert_array_equal(first.y_test, second.y_test)
    assert np.bincount(first.y_test).min() >= 17  # ~10% of each class (174-183 per class)
