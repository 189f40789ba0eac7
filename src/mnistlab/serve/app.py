"""The HTTP app: ``POST /predict``, ``GET /health``, ``GET /model`` and the drawing page at ``/``.

The run is loaded once when the app starts. Every bad request gets a 4xx with a one-line
JSON error (``{"error": "..."}``) and the server keeps serving.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from importlib.resources import files

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.concurrency import run_in_threadpool
from PIL import Image
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from mnistlab.checks import is_number
from mnistlab.errors import MnistlabError
from mnistlab.prediction.images import open_image
from mnistlab.prediction.prepare import Prepared
from mnistlab.prediction.predictor import Predictor

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_JSON_SIDE = 1024
IMAGE_TYPES = ("image/", "application/octet-stream")
PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"]}},
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["pixels"],
                    "properties": {
                        "pixels": {"type": "array", "items": {"type": "array", "items": {"type": "number"}},
                                   "description": "rows of grey levels 0-255 (any background; see prepare)"},
                        "prepare": {"type": "boolean", "default": True, "description": "preparation as the model's dataset was prepared (MNIST's for digits, Fashion-MNIST's for clothes); false: pixels are already white-on-black at the model's size"},
                    },
                }
            },
        },
    }
}


class ClassProbability(BaseModel):
    name: str
    probability: float


class PredictionOut(BaseModel):
    """The answer for one image."""

    class_: int = Field(alias="class")
    name: str
    confidence: float
    decision: str
    unsure: bool
    reason: str
    top3: list[ClassProbability]
    probabilities: dict[str, float]
    prepared: list[list[int]]

    model_config = {"populate_by_name": True}


def error(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


def pixels_from_json(payload: object, size: tuple[int, int]) -> tuple[Image.Image | np.ndarray, bool]:
    """Validate a JSON body: returns (image or prepared array, prepare flag)."""
    if not isinstance(payload, dict) or "pixels" not in payload:
        raise error(422, "JSON body must be an object with 'pixels': a list of rows of numbers 0-255")
    unknown = sorted(set(payload) - {"pixels", "prepare"})
    if unknown:
        raise error(422, f"unknown field(s) {', '.join(unknown)}; allowed: pixels, prepare")
    prepare = payload.get("prepare", True)
    if not isinstance(prepare, bool):
        raise error(422, "'prepare' must be true or false")
    rows = payload["pixels"]
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) and r for r in rows):
        raise error(422, "'pixels' must be a non-empty list of non-empty rows")
    if len(rows) > MAX_JSON_SIDE or len(rows[0]) > MAX_JSON_SIDE:
        raise error(413, f"'pixels' may be at most {MAX_JSON_SIDE}x{MAX_JSON_SIDE}")
    if len({len(r) for r in rows}) != 1:
        raise error(422, "'pixels' rows must all have the same length")
    if not all(is_number(v) for r in rows for v in r):
        raise error(422, "'pixels' must hold only numbers")
    array = np.asarray(rows, dtype=np.float64)
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 255:
        raise error(422, "'pixels' values must lie in 0..255")
    if prepare:
        return Image.fromarray(array.round().astype(np.uint8)), True
    if array.shape != tuple(size):
        raise error(422, f"with prepare=false, 'pixels' must be {size[0]}x{size[1]} (the model's input), got {array.shape[0]}x{array.shape[1]}")
    return array.round().astype(np.uint8), False


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        raise error(413, f"request body is {int(declared):,} bytes; the limit is {MAX_UPLOAD_BYTES:,}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD_BYTES:
            raise error(413, f"request body exceeds the limit of {MAX_UPLOAD_BYTES:,} bytes")
    return bytes(body)


def create_app(predictor: Predictor) -> FastAPI:
    """The app serving one loaded run (load it first, so a bad run fails before the server starts)."""
    state: dict[str, Predictor] = {}
    engine = predictor.engine.name

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state["predictor"] = predictor
        yield
        state.clear()

    app = FastAPI(title="mnistlab", description="Predict MNIST-family classes from images, with an 'unsure' answer.", lifespan=lifespan)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request"}
        return JSONResponse({"error": f"{'.'.join(map(str, first.get('loc', [])))}: {first.get('msg')}"}, status_code=422)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> str:
        return files("mnistlab.serve").joinpath("page.html").read_text(encoding="utf-8")

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/model")
    async def model() -> dict:
        predictor = state["predictor"]
        run = predictor.run
        t = predictor.rule.thresholds
        return {
            "run": run.path.name,
            "model": run.config.model if isinstance(run.config.model, str) else "custom",
            "dataset": run.config.dataset,
            "classes": list(predictor.class_names),
            "input": list(predictor.size),
            "test_accuracy": run.metrics["test_accuracy"],
            "engine": engine,
            "thresholds": {"confidence": t.confidence, "margin": t.margin, "distance": t.distance, "chosen_on": t.chosen_on,
                           "temperature": t.temperature},
        }

    @app.post("/predict", response_model=PredictionOut, openapi_extra=PREDICT_BODY,
              responses={400: {"description": "not a usable image"}, 413: {"description": "too large"},
                         415: {"description": "unsupported content type"}, 422: {"description": "wrong JSON shape"}})
    async def predict(request: Request) -> dict:
        predictor = state["predictor"]
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await read_body(request)
        if content_type == "multipart/form-data":
            image = await image_from_form(request, body)
            prepared = await run_in_threadpool(predictor.prepare_one, image)
        elif content_type.startswith(IMAGE_TYPES):
            image = decode(body, "the uploaded image")
            prepared = await run_in_threadpool(predictor.prepare_one, image)
        elif content_type == "application/json":
            try:
                payload = json.loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise error(400, f"body is not valid JSON ({exc.__class__.__name__}: {exc})") from None
            source, prepare = pixels_from_json(payload, predictor.size)
            if prepare:
                prepared = await run_in_threadpool(predictor.prepare_one, source)
            else:
                prepared = Prepared(source, False, float((source > 0).mean()), 0)
        else:
            raise error(415, f"unsupported content type '{content_type or 'none'}'; send an image (multipart 'file' or image/*) or JSON pixels")
        (result,) = await run_in_threadpool(predictor.predict_prepared, ["request"], [prepared])
        out = result.to_dict()
        out.pop("input")
        out["prepared"] = result.prepared.pixels.astype(int).tolist()
        return out

    async def image_from_form(request: Request, body: bytes) -> Image.Image:
        async def replay() -> dict:  # the body was already read (under the size limit); parse it from memory
            return {"type": "http.request", "body": body, "more_body": False}

        # a malformed multipart body raises a 400 HTTPException from Starlette's parser
        form = await Request(request.scope, replay).form(max_files=1, max_fields=4, max_part_size=MAX_UPLOAD_BYTES)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise error(400, "multipart body needs an image in the 'file' field")
        return decode(await upload.read(), f"'{upload.filename or 'file'}'")

    return app


def decode(data: bytes, name: str) -> Image.Image:
    try:
        return open_image(data, name)
    except MnistlabError as exc:
        status = 413 if "limit" in str(exc) or "too large" in str(exc) else 400
        raise error(status, str(exc)) from None
