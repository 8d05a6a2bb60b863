"""One JSON error shape for every endpoint: `{"error": "...", "details": [...]}`.

Handlers raise `ApiError` (or let the store's NotFound/Conflict and pydantic's ValidationError through);
`error_middleware` turns every failure, including aiohttp's own 404/405/413 and unexpected exceptions, into
that shape. Unexpected exceptions are logged with the method and path only: never bodies, headers or tokens.
A database that refuses the request for now (locked by another process, disk full: `agent.store.health.transient`)
is a 503 with a plain message and `Retry-After`, logged as one warning line, not a 500 with a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from agent.store.health import describe, transient
from agent.store.records import Conflict, StoreError
from agent.webhooks.schema import validation_details

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Detail = dict[str, Any]


class ApiError(Exception):
    """An expected failure with its HTTP status, a one-line message and optional details."""

    def __init__(self, status: int, message: str, details: Sequence[Detail] = (),
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})


def error_response(status: int, message: str, details: Sequence[Detail] = ()) -> web.Response:
    return web.json_response({"error": message, "details": list(details)}, status=status)


def invalid(field: str, message: str) -> ApiError:
    """A 422 naming one offending field."""
    return ApiError(422, "validation failed", [{"field": field, "message": message}])


RETRY_AFTER_S = 5

_HTTP_MESSAGES = {
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
}


def _from_http(exc: web.HTTPException) -> web.Response:
    message = _HTTP_MESSAGES.get(exc.status, exc.reason.lower())
    details: list[Detail] = []
    if isinstance(exc, web.HTTPMethodNotAllowed):
        details = [{"allowed": sorted(exc.allowed_methods)}]
    response = error_response(exc.status, message, details)
    if isinstance(exc, web.HTTPMethodNotAllowed):
        response.headers["Allow"] = ",".join(sorted(exc.allowed_methods))
    return response


def _expected(exc: ApiError | StoreError | ValidationError) -> web.Response:
    if isinstance(exc, ApiError):
        response = error_response(exc.status, exc.message, exc.details)
        response.headers.update(exc.headers)
        return response
    if isinstance(exc, ValidationError):
        return error_response(422, "validation failed", validation_details(exc))
    if isinstance(exc, Conflict):
        return error_response(409, str(exc) or "conflict")
    return error_response(404, str(exc) or "not found")


def unavailable(request: web.Request, exc: BaseException) -> web.Response:
    """503 for a transient store error: what the database said, and when to try again."""
    log.warning("admin API: %s %s: database unavailable: %s", request.method, request.path, describe(exc))
    response = error_response(503, f"the database is unavailable ({describe(exc)}); try again in a few seconds")
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every failure to the error shape (see the module docstring)."""
    try:
        return await handler(request)
    except (ApiError, StoreError, ValidationError) as exc:
        return _expected(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _from_http(exc)
    except Exception as exc:
        if transient(exc):
            return unavailable(request, exc)
        log.exception("admin API: unexpected error on %s %s", request.method, request.path)
        return error_response(500, "internal error")


async def expect_handler(request: web.Request) -> None:
    """`Expect: 100-continue` gets its interim answer; any other expectation is 417 in the error shape.

    aiohttp's own handler echoes the header into a text reply and fails with a 500 when it holds non-ASCII bytes;
    this one runs before the middlewares, so it answers in the error shape itself and never echoes the value.
    """
    expect = request.headers.get("Expect", "")
    if request.version < (1, 1) or not expect:
        return
    if expect.lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0
        return
    raise web.HTTPExpectationFailed(
        text='{"error": "unsupported Expect header: only 100-continue is understood", "details": []}',
        content_type="application/json",
    )
