"""The download path against a real HTTP server on 127.0.0.1: dead mirrors, checksums, atomic writes."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path

import pytest

from conftest import DEAD_MIRROR
from mnistlab import MnistlabError, load_dataset
from mnistlab.cli.main import main
from mnistlab.data.download import DownloadFailed, download
from mnistlab.data.registry import MNIST, RemoteFile
from mnistlab.data.sources import cache_dir, locate


def remote(name: str, payload: bytes) -> RemoteFile:
    return RemoteFile(name, hashlib.md5(payload).hexdigest(), hashlib.sha256(payload).hexdigest())


def test_dead_mirror_then_good_one(http_server: tuple[str, Path], tmp_path: Path) -> None:
    base, served = http_server
    payload = b"mnistlab" * 1000
    (served / "good").mkdir()
    (served / "good" / "file.bin").write_bytes(payload)
    dest = tmp_path / "out" / "file.bin"
    mirrors = [DEAD_MIRROR, base + "missing/", base + "good/"]  # refused, then 404, then the file
    assert download(remote("file.bin", payload), mirrors, dest, timeout=5) == dest
    assert dest.read_bytes() == payload
    assert [p.name for p in dest.parent.iterdir()] == ["file.bin"]


def test_checksum_mismatch_leaves_nothing(http_server: tuple[str, Path], tmp_path: Path) -> None:
    base, served = http_server
    (served / "file.bin").write_bytes(b"corrupted bytes")
    dest = tmp_path / "out" / "file.bin"
    with pytest.raises(DownloadFailed, match="checksum mismatch"):
        download(remote("file.bin", b"the real bytes"), [base], dest, timeout=5)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_corrupt_first_mirror_falls_back_to_intact_one(http_server: tuple[str, Path], tmp_path: Path) -> None:
    base, served = http_server
    for folder, payload in (("bad", b"tampered"), ("good", b"intact")):
        (served / folder).mkdir()
        (served / folder / "f").write_bytes(payload)
    dest = tmp_path / "f"
    download(remote("f", b"intact"), [base + "bad/", base + "good/"], dest, timeout=5)
    assert dest.read_bytes() == b"intact"


def test_dataset_downloads_into_cache_and_loads(
    http_server: tuple[str, Path], canonical_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, served = http_server
    shutil.copytree(canonical_data_dir / "mnist", served / "mnist")
    monkeypatch.setenv("MNISTLAB_MIRRORS", f"{DEAD_MIRROR} {base}mnist/")
    ds = load_dataset("mnist")
    assert ds.x_train.shape == (60000, 28, 28)
    cached = sorted(p.name for p in cache_dir(MNIST).iterdir())
    assert cached == sorted(f.name for f in MNIST.files)
    # second load: served from the cache, the server is no longer needed
    monkeypatch.setenv("MNISTLAB_MIRRORS", DEAD_MIRROR)
    assert locate(MNIST)[MNIST.train_images.name].parent == cache_dir(MNIST)


def test_offline_without_data_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], isolated_home: Path) -> None:
    assert main(["data", "fetch", "mnist"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "train-images-idx3-ubyte.gz" in err and "MNISTLAB_DATA_DIR" in err
    leftovers = [p for p in isolated_home.rglob("*") if p.is_file()]
    assert leftovers == []


def test_no_download_allowed_names_the_folders(tmp_path: Path) -> None:
    with pytest.raises(MnistlabError, match="not found .*looked in"):
        locate(MNIST, data_dir=tmp_path, allow_download=False)


def test_system_folder_is_a_source(tmp_path: Path, tiny_mnist_dir: Path) -> None:
    spec = dataclasses.replace(MNIST, system_dirs=(str(tiny_mnist_dir / "mnist"),))
    paths = locate(spec)
    assert {p.parent for p in paths.values()} == {tiny_mnist_dir / "mnist"}


def test_data_dir_comes_before_cache(tmp_path: Path, tiny_mnist_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(tiny_mnist_dir / "mnist", cache_dir(MNIST))
    other = tmp_path / "other"
    shutil.copytree(tiny_mnist_dir, other)
    monkeypatch.setenv("MNISTLAB_DATA_DIR", str(other))
    assert locate(MNIST)[MNIST.train_images.name].parent == other / "mnist"
    monkeypatch.delenv("MNISTLAB_DATA_DIR")
    assert locate(MNIST)[MNIST.train_images.name].parent == cache_dir(MNIST)
