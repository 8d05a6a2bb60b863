"""A route as data: the handler plus what the OpenAPI document says about it.

Every API route is declared once as a `Route`; `create_app` registers them and `openapi.document` describes
them, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from agent.admin_api.deps import ApiDeps
from agent.admin_api.errors import ApiError

API_PREFIX = "/api/v1"
DEPS = web.AppKey("deps", ApiDeps)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ParamType = Literal["string", "integer", "boolean"]


@dataclass(frozen=True, slots=True)
class Param:
    """A path or query parameter."""

    name: str
    description: str
    type: ParamType = "string"
    where: Literal["path", "query"] = "query"


@dataclass(frozen=True, slots=True)
class Route:
    """One operation at its full path. `request`/`response` name component schemas of the OpenAPI document."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    request: str | None = None
    response: str | None = None
    status: int = 200
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()


def deps(request: web.Request) -> ApiDeps:
    return request.app[DEPS]


MAX_ID = 2**63 - 1  # SQLite's INTEGER PRIMARY KEY range
_ID_RE = re.compile(r"\d{1,19}")


def path_id(request: web.Request, what: str) -> int:
    """The `{id}` of the path; ids that cannot exist (past SQLite's range) are simply not found."""
    raw = request.match_info["id"]
    if not _ID_RE.fullmatch(raw) or not 1 <= int(raw) <= MAX_ID:
        raise ApiError(404, f"{what} {raw} does not exist")
    return int(raw)


PAGING = (
    Param("page", "page number, from 1", "integer"),
    Param("per_page", "items per page (1-500)", "integer"),
    Param("search", "case-insensitive text to look for"),
)
ROUTES_KEY: web.AppKey[tuple[Route, ...]] = web.AppKey("routes")
SCHEMAS_KEY: web.AppKey[Mapping[str, Any]] = web.AppKey("schemas")
