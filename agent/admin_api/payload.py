"""Reading request input: JSON bodies under a size limit, paging and search query parameters.

JSON may spell a lone UTF-16 surrogate (`"\\ud800"`), which is no character at all and cannot be stored: such a
document is refused with a 422 naming the first field that holds one, before any handler sees it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from agent.admin_api.errors import ApiError, invalid
from agent.store.records import MAX_PER_PAGE
from agent.webhooks.schema import validation_details

M = TypeVar("M", bound=BaseModel)
MIB = 1024 * 1024
DEFAULT_LIMIT = 1 * MIB
POSTMAN_LIMIT = 10 * MIB
_CHUNK = 64 * 1024
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


async def read_body(request: web.Request, limit: int = DEFAULT_LIMIT) -> bytes:
    """The raw body, refusing (413) anything over `limit` bytes before reading it when the length is known."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "request body too large", [{"limit_bytes": limit}])


def parse_json(data: bytes) -> Any:
    """Decode a JSON document or raise a 400 naming where it broke."""
    if not data.strip():
        raise ApiError(400, "malformed JSON", [{"message": "the request body is empty"}])
    try:
        document = json.loads(data)
    except UnicodeDecodeError:
        raise ApiError(400, "malformed JSON", [{"message": "the request body is not UTF-8"}]) from None
    except json.JSONDecodeError as exc:
        detail = {"message": exc.msg, "line": exc.lineno, "column": exc.colno}
        raise ApiError(400, "malformed JSON", [detail]) from None
    except RecursionError:
        raise ApiError(400, "malformed JSON", [{"message": "the document is nested too deeply"}]) from None
    field = surrogate_field(document)
    if field is not None:
        raise invalid(field or "body", "holds a lone surrogate (\\ud800-\\udfff), which is not a character: "
                      "send valid Unicode text")
    return document


def surrogate_field(document: Any) -> str | None:
    """The dotted path (`auth.token`, `query.0.value`; "" for the document itself) of the first string or key
    holding a lone surrogate, None when there is none."""
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if _SURROGATE_RE.search(node):
                return path
        elif isinstance(node, dict):
            for key, value in reversed(node.items()):
                inner = f"{path}.{key}" if path else str(key)
                if _SURROGATE_RE.search(key):
                    return inner
                stack.append((value, inner))
        elif isinstance(node, list):
            stack.extend((item, f"{path}.{i}" if path else str(i)) for i, item in reversed(list(enumerate(node))))
    return None


async def read_json(request: web.Request, limit: int = DEFAULT_LIMIT) -> Any:
    return parse_json(await read_body(request, limit))


async def read_model(request: web.Request, model: type[M], limit: int = DEFAULT_LIMIT) -> M:
    """The body validated against `model` (422 naming the offending fields)."""
    data = await read_json(request, limit)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "validation failed", validation_details(exc)) from None


@dataclass(frozen=True, slots=True)
class Paging:
    page: int
    per_page: int
    search: str

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def envelope(self, items: list[Any], total: int) -> dict[str, Any]:
        return {"items": items, "page": self.page, "per_page": self.per_page, "total": total}


def paging(request: web.Request, default_per_page: int = 50) -> Paging:
    """`?page=&per_page=&search=` with bounds checked (422 naming the parameter)."""
    page = _int_query(request, "page", 1, 1, 10**9)
    per_page = _int_query(request, "per_page", default_per_page, 1, MAX_PER_PAGE)
    return Paging(page, per_page, request.query.get("search", "").strip())


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"query.{name}", "must be an integer") from None
    if not low <= value <= high:
        raise invalid(f"query.{name}", f"must be between {low} and {high}")
    return value
