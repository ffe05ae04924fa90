"""The HTTP edge of POST /predict: what a client may send, and every answer it can get, declared.

- 415 unless the body is JSON (Content-Type application/json), before anything is read;
- 413 when the body is larger than the limit (Content-Length, or counted while it streams in), before
  it is parsed: a 50 MB body costs no more than the limit;
- 400 for a body the request model (schema.py) rejects, naming each field; 422 for valid values the
  model cannot predict from (a huge number its scaling overflows);
- every 4xx is one log line (no traceback): the client's mistake is not the server's error;
- 500 only for the server's own faults (logged with their traceback).
The OpenAPI document (BentoML's /docs.json merges this FastAPI app's) declares each of these bodies.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Config

log = logging.getLogger("bentoml.serve.predict")  # under "bentoml": BentoML's log setup shows it

JSON = "application/json"
# Budget of one JSON value by column kind (a float's repr is at most 24 characters; text codes vary).
VALUE_BYTES = {"numeric": 32, "integer": 32, "boolean": 8, "string": 256}


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """Every 4xx/5xx body: one line for people, and the field errors for programs."""

    error: str
    detail: list[FieldError] = []


class Prediction(BaseModel):
    predictions: list[bool | int | float | str]
    model: str
    request_id: str


class UnpredictableError(Exception):
    """The model refused valid values (e.g. a huge finite number its scaling overflows): answered 422."""


class Predictor:
    """The model, with its refusal of the client's values (sklearn's ValueError) made a 422, not a 500."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, frame: Any) -> Any:
        try:
            return self.model.predict(frame)
        except ValueError as exc:
            raise UnpredictableError(f"the model cannot predict from these values: {exc}") from None


class BodyTooLargeError(Exception):
    """Raised while a body without Content-Length streams in past the limit: answered 413."""


def max_body_bytes(config: Config) -> int:
    """Largest accepted body: max_batch_size rows of every column at its kind's budget, plus slack."""
    row = sum(len(name) + 8 + VALUE_BYTES[col.kind()] for name, col in config.data.columns.items())
    return config.serving.max_batch_size * row + 4096


class RequestLimits:
    """ASGI middleware: JSON only (415) and at most `max_bytes` of body (413) on POST."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        media = headers.get("content-type", "").partition(";")[0].strip().lower()
        if media != JSON:
            shown = media or "none"
            return await _refuse(scope, receive, send, 415, f"Content-Type must be {JSON} (got {shown})")
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            return await _refuse(scope, receive, send, 413, f"body of {length} bytes exceeds {self.max_bytes}")
        seen = 0

        async def counted() -> Message:  # a body without Content-Length (chunked) is counted as it arrives
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLargeError(f"body exceeds {self.max_bytes} bytes")
            return message

        await self.app(scope, counted, send)


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, error: str) -> None:
    log.warning("%d %s %s: %s", status, scope["method"], scope["path"], error)
    await JSONResponse(Problem(error=error).model_dump(), status_code=status)(scope, receive, send)


def _field_errors(exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(loc=list(e["loc"]), msg=e["msg"], type=e["type"])
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _one_line(errors: list[FieldError]) -> str:
    shown = "; ".join(f"{'.'.join(map(str, e.loc)) or 'body'}: {e.msg}" for e in errors[:3])
    return f"{len(errors)} invalid field(s): {shown}" + (" ..." if len(errors) > 3 else "")


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ValidationError)
    errors = _field_errors(exc)
    log.warning("400 %s %s: %s", request.method, request.url.path, _one_line(errors))
    return JSONResponse(Problem(error=_one_line(errors), detail=errors).model_dump(), status_code=400)


async def _too_large(request: Request, exc: Exception) -> JSONResponse:
    log.warning("413 %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(Problem(error=str(exc)).model_dump(), status_code=413)


async def _unpredictable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("422 %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(Problem(error=str(exc)).model_dump(), status_code=422)


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    # Starlette logs the traceback after this answer (ServerErrorMiddleware re-raises).
    return JSONResponse(Problem(error="internal error: see the server log").model_dump(), status_code=500)


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its $defs substituted: OpenAPI resolves refs against the document."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: walk(value) for key, value in node.items()}
        return [walk(value) for value in node] if isinstance(node, list) else node

    return walk(schema)


def predict_route(body: type[BaseModel]) -> dict[str, Any]:
    """`app.post` arguments of /predict: the request body and every answer, as served."""
    problem = {"model": Problem}
    return {
        "response_model": Prediction,
        "responses": {
            400: problem | {"description": "A field is invalid (each one named in detail)"},
            413: problem | {"description": "The body is larger than the limit"},
            415: problem | {"description": f"The body is not {JSON}"},
            422: problem | {"description": "The model cannot predict from these values (e.g. a scaling overflow)"},
            500: problem | {"description": "The server failed (see its log)"},
        },
        "openapi_extra": {
            "requestBody": {"required": True, "content": {JSON: {"schema": _inline(body.model_json_schema())}}}
        },
    }


def edge_app(config: Config, title: str) -> FastAPI:
    """The FastAPI app /predict lives in: limits, error answers and their log lines installed."""
    app = FastAPI(title=title, openapi_url=None, docs_url=None, redoc_url=None)  # BentoML serves /docs.json
    app.add_middleware(RequestLimits, max_bytes=max_body_bytes(config))
    app.add_exception_handler(ValidationError, _invalid)
    app.add_exception_handler(BodyTooLargeError, _too_large)
    app.add_exception_handler(UnpredictableError, _unpredictable)
    app.add_exception_handler(Exception, _internal)
    return app
