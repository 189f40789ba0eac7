"""The HTTP server for real: started on loopback, its API, 30+ malformed requests, the drawing page, a load test."""

from __future__ import annotations

import http.client
import io
import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import free_port
from draw import draw_and_read
from mnistlab.cli.main import main
from mnistlab.prediction.abstention import photo_of
from test_explore import assert_png


@pytest.fixture(scope="module")
def server(cnn_run):
    """`mnistlab serve RUN` in a subprocess on a free loopback port; yields the base URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "mnistlab", "serve", str(cnn_run.path), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "health", timeout=1).read()
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail("server exited: " + process.stderr.read())
            time.sleep(0.2)
    else:
        pytest.fail("server did not answer /health within 60 s")
    yield base
    process.terminate()
    process.wait(timeout=10)


def request(url: str, body: bytes | None = None, content_type: str | None = None, method: str | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method=method or ("POST" if body is not None else "GET"))
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def multipart(field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = "mnistlab-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_health_and_model(server, cnn_run) -> None:
    assert request(server + "health") == (200, {"status": "ok"})
    status, info = request(server + "model")
    assert status == 200 and info["classes"] == [str(d) for d in range(10)] and info["input"] == [28, 28]
    assert info["test_accuracy"] == cnn_run.metrics["test_accuracy"]
    assert set(info["thresholds"]) == {"confidence", "margin", "distance", "chosen_on", "temperature"}
    assert info["thresholds"]["temperature"] == 1.0  # validated on the test set: nothing held out to calibrate on
    status, schema = request(server + "openapi.json")
    assert status == 200 and "/predict" in schema["paths"]


def test_predict_upload_raw_and_json(server, mnist) -> None:
    digit = mnist.x_test[0]  # a 7
    photo = png_bytes(photo_of(digit, np.random.default_rng(3)))
    body, content_type = multipart("file", "seven.png", photo)
    for status, result in (request(server + "predict", body, content_type), request(server + "predict", photo, "image/png")):
        assert status == 200 and result["class"] == 7 and result["name"] == "7"
        assert abs(sum(result["probabilities"].values()) - 1) < 1e-4
        assert np.array(result["prepared"]).shape == (28, 28)
        assert result["decision"] in ("7", "unsure") and len(result["top3"]) == 3
    status, result = request(server + "predict", json.dumps({"pixels": digit.tolist(), "prepare": False}).encode(), "application/json")
    assert status == 200 and result["class"] == 7 and result["prepared"] == digit.tolist()
    status, result = request(server + "predict", json.dumps({"pixels": (255 - digit).tolist()}).encode(), "application/json")
    assert status == 200 and result["class"] == 7  # dark on light pixels are prepared MNIST-style


def malformed_requests() -> list[tuple[str, bytes | None, str | None, str]]:
    """(name, body, content type, method) of requests a server must refuse with a 4xx."""
    real = png_bytes(Image.new("L", (50, 50), 200))
    huge = io.BytesIO()
    Image.new("1", (9000, 9000)).save(huge, format="PNG")  # 81 megapixels, a few kB compressed
    rows = lambda n, m, v=0: [[v] * m for _ in range(n)]  # noqa: E731
    cases = [
        ("zero bytes", b"", "image/png", "POST"),
        ("text as png", b"hello world", "image/png", "POST"),
        ("truncated png", real[: len(real) // 2], "image/png", "POST"),
        ("png header only", real[:16], "image/png", "POST"),
        ("huge dimensions", huge.getvalue(), "image/png", "POST"),
        ("random bytes", bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), "application/octet-stream", "POST"),
        ("no content type", real, None, "POST"),
        ("text/plain", b"7", "text/plain", "POST"),
        ("form urlencoded", b"a=b", "application/x-www-form-urlencoded", "POST"),
        ("multipart wrong field", *multipart("image", "x.png", real), "POST"),
        ("multipart empty file", *multipart("file", "x.png", b""), "POST"),
        ("multipart not an image", *multipart("file", "x.png", b"GIF89a nonsense"), "POST"),
        ("multipart no boundary", b"--x\r\n", "multipart/form-data", "POST"),
        ("multipart garbage", b"garbage", "multipart/form-data; boundary=zzz", "POST"),
        ("json invalid", b"{not json", "application/json", "POST"),
        ("json list", b"[1, 2, 3]", "application/json", "POST"),
        ("json no pixels", b'{"image": []}', "application/json", "POST"),
        ("json pixels string", b'{"pixels": "abc"}', "application/json", "POST"),
        ("json pixels empty", b'{"pixels": []}', "application/json", "POST"),
        ("json pixels flat", json.dumps({"pixels": [0] * 784}).encode(), "application/json", "POST"),
        ("json ragged rows", json.dumps({"pixels": [[0, 1], [2]]}).encode(), "application/json", "POST"),
        ("json strings inside", json.dumps({"pixels": [["a"] * 28] * 28}).encode(), "application/json", "POST"),
        ("json booleans inside", json.dumps({"pixels": [[True] * 28] * 28}).encode(), "application/json", "POST"),
        ("json negative", json.dumps({"pixels": rows(28, 28, -1)}).encode(), "application/json", "POST"),
        ("json over 255", json.dumps({"pixels": rows(28, 28, 300)}).encode(), "application/json", "POST"),
        ("json nested too deep", json.dumps({"pixels": [[[0]] * 28] * 28}).encode(), "application/json", "POST"),
        ("json wrong size unprepared", json.dumps({"pixels": rows(20, 20), "prepare": False}).encode(), "application/json", "POST"),
        ("json prepare not bool", json.dumps({"pixels": rows(28, 28), "prepare": "yes"}).encode(), "application/json", "POST"),
        ("json unknown field", json.dumps({"pixels": rows(28, 28), "colour": 1}).encode(), "application/json", "POST"),
        ("json too large", json.dumps({"pixels": rows(1100, 2)}).encode(), "application/json", "POST"),
        ("json not utf-8", b'{"pixels": "\xff\xfe"}', "application/json", "POST"),
        ("GET predict", None, None, "GET"),
        ("DELETE predict", None, None, "DELETE"),
    ]
    return cases


def oversized_upload(server: str) -> int:
    """Declare a 6 MB upload and send its first 64 kB: the server answers 413 from the header alone."""
    parsed = urllib.parse.urlsplit(server)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    connection.putrequest("POST", "/predict")
    connection.putheader("Content-Type", "image/png")
    connection.putheader("Content-Length", str(6 * 1024 * 1024))
    connection.endheaders()
    connection.send(b"\x00" * 65536)
    response = connection.getresponse()
    payload = json.loads(response.read())
    connection.close()
    assert "limit" in payload["error"]
    return response.status


def test_malformed_requests_get_one_line_4xx(server) -> None:
    cases = malformed_requests()
    outcomes = {}
    for name, body, content_type, method in cases:
        status, payload = request(server + "predict", body, content_type, method)
        outcomes[name] = status
        assert 400 <= status < 500, (name, status, payload)
        message = payload.get("error") or payload.get("detail")
        assert isinstance(message, str) and message and "\n" not in message, (name, payload)
    outcomes["over the size limit"] = oversized_upload(server)
    assert outcomes["over the size limit"] == 413 and outcomes["text/plain"] == 415
    assert outcomes["huge dimensions"] == 413
    # still serving, and still right
    assert request(server + "health") == (200, {"status": "ok"})
    status, result = request(server + "predict", png_bytes(Image.new("L", (60, 60), 230)), "image/png")
    assert status == 200 and result["unsure"] and result["reason"] == "no ink found"


def test_draw_a_one_and_a_seven(server, tmp_path: Path) -> None:
    results, errors = draw_and_read(server, ["1", "7"], tmp_path)
    assert errors == []
    assert [r["top"] for r in results] == ["1", "7"]
    assert all(r["bars"] == 10 for r in results)
    for digit, result in zip("17", results):
        assert result["answer"] in (digit, "unsure")
        assert_png(tmp_path / f"drawn-{digit}.png", 1000, 600)


def test_load_test_with_100_clients(server, capsys) -> None:
    assert main(["loadtest", server + "predict", "--clients", "100", "--requests", "2"]) == 0
    out = capsys.readouterr().out
    assert "200 requests from 100 concurrent clients" in out and "errors 0" in out and "p99" in out
