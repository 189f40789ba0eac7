"""Shared fixtures: an isolated mnistlab home, the canonical data, small made-up datasets, a loopback HTTP server."""

from __future__ import annotations

import functools
import http.server
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mnistlab.data.idx import write_idx

REPO = Path(__file__).resolve().parents[1]
DEAD_MIRROR = "http://127.0.0.1:9/"  # the discard port: nothing listens, the connection is refused


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets an empty cache, no data dir, mirrors that cannot be reached, and a fixed thread
    count (the thread budget follows the machine's load, and the count changes a run's numbers)."""
    home = tmp_path / "home"
    monkeypatch.setenv("MNISTLAB_HOME", str(home))
    monkeypatch.setenv("MNISTLAB_THREADS", str(os.cpu_count() or 1))
    monkeypatch.delenv("MNISTLAB_DATA_DIR", raising=False)
    monkeypatch.setenv("MNISTLAB_MIRRORS", DEAD_MIRROR)
    return home


@pytest.fixture(scope="session")
def canonical_data_dir() -> Path:
    """The canonical MNIST / Fashion-MNIST files (CI: MNISTLAB_DATA_DIR=../shared/data)."""
    path = Path(os.environ.get("MNISTLAB_DATA_DIR") or REPO.parent / "shared" / "data")
    if not (path / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"canonical data not found at {path}; set MNISTLAB_DATA_DIR to the folder with mnist/ and fashion-mnist/")
    return path


@pytest.fixture
def data_dir(canonical_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MNISTLAB_DATA_DIR", str(canonical_data_dir))
    return canonical_data_dir


def synthetic_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """28x28 images whose class is readable: a bright bar at a class-specific row."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 + 2 * label : 4 + 2 * label, 4:24] = 255
    return images, labels.astype(np.uint8)


@pytest.fixture
def tiny_mnist_dir(tmp_path: Path) -> Path:
    """A folder laid out like the canonical one (mnist/ with four .gz IDX files), with 300/100 made-up images."""
    folder = tmp_path / "tiny" / "mnist"
    x_train, y_train = synthetic_digits(300, seed=1)
    x_test, y_test = synthetic_digits(100, seed=2)
    write_idx(folder / "train-images-idx3-ubyte.gz", x_train)
    write_idx(folder / "train-labels-idx1-ubyte.gz", y_train)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", x_test)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", y_test)
    return folder.parent


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on 127.0.0.1 serving a fresh folder: yields (base URL, folder)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def mnist(canonical_data_dir: Path):
    from mnistlab import load_dataset

    return load_dataset("mnist", data_dir=canonical_data_dir)


@pytest.fixture(scope="session")
def cnn_run(tmp_path_factory: pytest.TempPathFactory, mnist):
    """The notebook CNN, one epoch on 30,000 MNIST images (about 97% test accuracy), shared by the suite."""
    from mnistlab import TrainConfig, train_and_report
    from mnistlab.training.progress import Progress

    config = TrainConfig(name="cnn", model="cnn", epochs=1, limit=30000, batch_size=64)
    return train_and_report(config, out=tmp_path_factory.mktemp("runs") / "cnn", progress=Progress(quiet=True), dataset=mnist, report=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
