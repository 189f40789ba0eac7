"""A load test of a running server: many concurrent clients posting one image, latency and throughput."""

from __future__ import annotations

import http.client
import io
import threading
import time
import urllib.parse
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from mnistlab.errors import MnistlabError


def sample_png() -> bytes:
    """A hand-drawn-looking 7: dark ink on light paper, off-centre, larger than 28x28."""
    image = Image.new("L", (200, 160), 235)
    draw = ImageDraw.Draw(image)
    draw.line([(60, 30), (150, 30), (95, 140)], fill=20, width=14, joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class LoadResult:
    clients: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: np.ndarray

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds

    def summary(self) -> str:
        p50, p99 = np.percentile(self.latencies_ms, [50, 99]) if len(self.latencies_ms) else (float("nan"),) * 2
        return (
            f"{self.requests} requests from {self.clients} concurrent clients in {self.seconds:.2f} s: "
            f"{self.requests_per_second:.0f} requests/s, latency p50 {p50:.1f} ms, p99 {p99:.1f} ms, errors {self.errors}"
        )


def load_test(url: str, clients: int = 100, requests_per_client: int = 10, body: bytes | None = None, timeout: float = 60.0) -> LoadResult:
    """``clients`` threads, each with its own keep-alive connection, each sending ``requests_per_client`` POSTs."""
    parsed = urllib.parse.urlsplit(url)
    try:
        port = parsed.port or 80
    except ValueError:
        port = None
    if parsed.scheme != "http" or not parsed.hostname or port is None:
        raise MnistlabError(f"the URL must look like http://127.0.0.1:8000/predict, got '{url}'")
    path = parsed.path or "/predict"
    body = body or sample_png()
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)

    def client() -> None:
        connection = http.client.HTTPConnection(parsed.hostname, port, timeout=timeout)
        start_gate.wait()
        for _ in range(requests_per_client):
            began = time.perf_counter()
            try:
                connection.request("POST", path, body=body, headers={"Content-Type": "image/png"})
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection(parsed.hostname, port, timeout=timeout)
            elapsed = (time.perf_counter() - began) * 1000
            with lock:
                latencies.append(elapsed)
                errors[0] += not ok
        connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    return LoadResult(clients, clients * requests_per_client, errors[0], seconds, np.array(latencies))
