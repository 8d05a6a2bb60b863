"""The OpenAPI 3.1 document, built from the declared routes plus the component schemas below."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from agent import __version__
from agent.admin_api.routing import API_PREFIX, ROUTES_KEY, SCHEMAS_KEY, Route

Schema = dict[str, Any]
_PUBLIC = frozenset({"/healthz", "/metrics", "/"})
_TEXT_TYPES = frozenset({"text/plain", "text/html", "text/csv"})
_PATTERN_RE = re.compile(r"\{(\w+):[^}]*\}")


def _obj(required: list[str], **props: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": props}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _page(item: str) -> Schema:
    return _obj(["items", "page", "per_page", "total"], items={"type": "array", "items": _ref(item)},
                page={"type": "integer"}, per_page={"type": "integer"}, total={"type": "integer"})


_STR: Schema = {"type": "string"}
_INT: Schema = {"type": "integer"}
_BOOL: Schema = {"type": "boolean"}
_PAIRS: Schema = {"type": "array", "items": _ref("KeyValue")}
_NUM_OR_NULL: Schema = {"type": ["number", "null"]}

_BODY: Schema = {"oneOf": [
    _obj(["type"], type={"const": "none"}),
    _obj(["type", "raw"], type={"const": "raw"}, content_type=_STR, raw=_STR),
    _obj(["type", "fields"], type={"enum": ["form-data", "x-www-form-urlencoded"]}, fields=_PAIRS),
]}
_AUTH: Schema = {"oneOf": [
    _obj(["type"], type={"const": "none"}),
    _obj(["type", "token"], type={"const": "bearer"}, token=_STR),
    _obj(["type", "username", "password"], type={"const": "basic"}, username=_STR, password=_STR),
    _obj(["type", "key", "value"], type={"const": "api_key"}, key=_STR, value=_STR,
         **{"in": {"enum": ["header", "query"]}}),
]}
_ACTION_FIELDS: dict[str, Schema] = {
    "name": _STR, "description": _STR, "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
    "url": _STR, "query": _PAIRS, "headers": _PAIRS, "body": _ref("Body"), "auth": _ref("Auth"),
    "timeout_s": _NUM_OR_NULL,
}

SCHEMAS: dict[str, Schema] = {
    "Error": _obj(["error", "details"], error=_STR, details={"type": "array", "items": {"type": "object"}}),
    "KeyValue": _obj(["key", "value"], key=_STR, value=_STR),
    "Body": _BODY,
    "Auth": _AUTH,
    "ActionInput": _obj(["name", "method", "url"], **_ACTION_FIELDS),
    "Action": _obj(["id", *_ACTION_FIELDS, "active_events", "undefined_parameters"], id=_INT, **_ACTION_FIELDS,
                   active_events=_INT, undefined_parameters={"type": "array", "items": _STR},
                   request_line=_STR),
    "ActionPage": _page("Action"),
    "Event": _obj(["key", "name", "description", "active", "actions"], key=_STR, name=_STR, description=_STR,
                  active=_BOOL, actions={"type": "array", "items": _INT}),
    "EventPage": _page("Event"),
    "EventUpdate": _obj([], active=_BOOL, actions={"type": "array", "items": _INT}),
    "Settings": _obj(["actions_enabled"], actions_enabled=_BOOL),
    "Parameter": _obj(["tag", "value", "secret", "system", "description", "actions"], tag=_STR, value=_STR,
                      secret=_BOOL, system=_BOOL, description=_STR, actions=_INT),
    "ParameterPage": _page("Parameter"),
    "ParameterInput": _obj(["tag", "value"], tag=_STR, value=_STR, secret=_BOOL),
    "ParameterUpdate": _obj([], value=_STR, secret=_BOOL),
    "TestValues": _obj([], values={"type": "object", "additionalProperties": _STR}),
    "UnsavedDryRun": _obj(["action"], action=_ref("ActionInput"),
                          values={"type": "object", "additionalProperties": _STR}),
    "TestResult": _obj(["status", "message", "duration_ms", "event"], status=_INT, message=_STR,
                       duration_ms=_INT, event=_STR),
    "RenderedRequest": _obj(["method", "url", "headers", "body"], method=_STR, url=_STR, headers=_PAIRS,
                            body=_STR, timeout_s=_NUM_OR_NULL),
    "PostmanCollection": {"type": "object", "description": "A Postman collection, schema v2.0 or v2.1"},
    "PostmanItem": _obj(["index", "name", "method", "url", "status", "notes", "folder"], index=_INT, name=_STR,
                        method=_STR, url=_STR, status={"enum": ["importable", "changed", "skipped"]},
                        notes={"type": "array", "items": _STR},
                        folder={"type": "string", "description": "folder path (`A / B`), empty at the top"}),
    "PostmanPreview": _obj(["items", "variables", "notes", "name", "version", "clashes"],
                           items={"type": "array", "items": _ref("PostmanItem")},
                           variables={"type": "array", "items": _ref("PostmanVariable")},
                           clashes={"type": "array", "items": _ref("PostmanClash")},
                           notes={"type": "array", "items": _STR, "description": "collection-level notes"},
                           name=_STR, version={"enum": ["2.0", "2.1"]}),
    "PostmanVariable": _obj(["key", "value", "secret"], key=_STR, value=_STR, secret=_BOOL, exists=_BOOL),
    "PostmanClash": _obj(["key", "tag", "kind", "value", "existing", "secret", "new_tag", "choice", "choices"],
                         key=_STR, tag=_STR, kind={"enum": ["parameter", "system"]}, value=_STR, existing=_STR,
                         secret=_BOOL, new_tag=_STR, choice=_STR, choices={"type": "array", "items": _STR}),
    "PostmanImport": _obj(["collection"], collection=_ref("PostmanCollection"),
                          select={"type": "array", "items": _INT}, all=_BOOL,
                          choices={"type": "object", "additionalProperties": {
                              "enum": ["new", "keep", "overwrite", "system"]}},
                          variables={"type": "boolean", "description": "create collection variables as "
                                     "custom parameters when no parameter has their tag (default true)"}),
    "PostmanImportResult": _obj(["created", "report", "parameters"],
                                created={"type": "array", "items": _ref("Action")},
                                report={"type": "array", "items": _ref("PostmanItem")},
                                parameters={"type": "array", "items": _STR},
                                overwritten={"type": "array", "items": _STR}),
    "Activity": _obj(["id", "action", "action_id", "event", "call_id", "attempt", "status", "message",
                      "duration_ms", "date"], id=_INT, action=_STR, action_id={"type": ["integer", "null"]},
                     event=_STR, call_id=_STR, attempt=_INT, status=_INT, message=_STR,
                     duration_ms={"type": "number"}, date=_STR),
    "ActivityPage": _page("Activity"),
    "Status": {"type": "object", "description": "AMI link, calls in progress, outbox depth, counters"},
    "Health": _obj(["status"], status=_STR, version=_STR),
    "OpenApi": {"type": "object"},
}


def _content(name: str) -> Schema:
    if name in _TEXT_TYPES:
        return {name: {"schema": _STR}}
    return {"application/json": {"schema": _ref(name)}}


def _operation(route: Route) -> Schema:
    op: Schema = {"summary": route.summary, "tags": [route.tag], "operationId": route.handler.__name__}
    if route.params:
        op["parameters"] = [
            {"name": p.name, "in": p.where, "required": p.where == "path", "description": p.description,
             "schema": {"type": p.type}} for p in route.params
        ]
    if route.request:
        op["requestBody"] = {"required": True, "content": _content(route.request)}
    ok: Schema = {"description": "success"}
    if route.response:
        ok["content"] = _content(route.response)
    responses: Schema = {str(route.status): ok}
    errors = set(route.errors) | ({400, 413, 422} if route.request else set())
    if route.path.startswith(API_PREFIX):
        errors |= {401, 503}  # 503: the database refuses writes for now (locked, disk full); see Retry-After
    for code in sorted(errors):
        responses[str(code)] = {"description": _ERROR_TEXT.get(code, "error"), "content": _content("Error")}
    op["responses"] = responses
    if route.path in _PUBLIC or not route.path.startswith(API_PREFIX):
        op["security"] = []
    return op


_ERROR_TEXT = {503: "the database is unavailable for now (locked or disk full); retry after Retry-After seconds"}


def openapi_path(path: str) -> str:
    """`/x/{id:\\d+}` (aiohttp) -> `/x/{id}` (OpenAPI)."""
    return _PATTERN_RE.sub(r"{\1}", path)


def document(routes: tuple[Route, ...], schemas: Mapping[str, Schema] = SCHEMAS) -> Schema:
    """The whole document for `routes` and their component `schemas`, plus the static assets folder."""
    paths: dict[str, Schema] = {}
    for route in routes:
        paths.setdefault(openapi_path(route.path), {})[route.method.lower()] = _operation(route)
    paths["/static/{filename}"] = {"get": {
        "summary": "Assets of the web page", "tags": ["page"], "security": [],
        "parameters": [{"name": "filename", "in": "path", "required": True, "schema": _STR}],
        "responses": {"200": {"description": "the file"}, "404": {"description": "no such file"}},
    }}
    return {
        "openapi": "3.1.0",
        "info": {"title": "event-agent admin API", "version": __version__},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": dict(schemas),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document(request.app[ROUTES_KEY], request.app[SCHEMAS_KEY]))


ROUTES = (
    Route("GET", f"{API_PREFIX}/openapi.json", openapi_json, "This OpenAPI document", "meta", response="OpenApi"),
)
