"""Postman collection import: preview (per-item report and variables), then import a selection or all.

Collection variables become custom parameters at import when no parameter (system or custom) has their tag
yet; existing parameters are never overwritten, and variables that are not valid tags are left out. Send
`"variables": false` to create none. The actions and the new parameters are written in one store transaction
(`Store.import_collection`): if anything fails, nothing is written.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from agent.admin_api.errors import ApiError, Detail
from agent.admin_api.payload import POSTMAN_LIMIT, parse_json, read_body, read_model
from agent.admin_api.routes.actions import ActionView
from agent.admin_api.routing import API_PREFIX, Route, deps
from agent.mapping.catalog import ALL_PARAMETERS
from agent.store.model import Parameter
from agent.webhooks.postman import PostmanError, Preview, PreviewItem, load_collection, preview
from agent.webhooks.template import is_valid_tag


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    collection: dict[str, Any]
    select: list[int] | None = Field(default=None, max_length=100_000)
    all: bool = False
    variables: bool = True


async def _preview(request: web.Request, raw: bytes) -> Preview:
    names = {action.name for action in await deps(request).store.all_actions()}
    try:
        return preview(load_collection(raw), names)
    except PostmanError as exc:
        raise ApiError(422, f"not an importable Postman collection: {exc}") from None


async def preview_collection(request: web.Request) -> web.Response:
    raw = await read_body(request, POSTMAN_LIMIT)
    parse_json(raw)
    found = await _preview(request, raw)
    taken = {p.tag for p in await deps(request).store.list_parameters()} | set(ALL_PARAMETERS)
    doc = found.to_json()
    for variable in doc["variables"]:
        variable["exists"] = variable["key"] in taken
    return web.json_response({**doc, "name": found.name, "version": found.version})


def _selected(found: Preview, body: ImportRequest) -> list[PreviewItem]:
    """The items to import: all importable ones, or exactly the selected ones (422 for a bad index)."""
    if body.all == (body.select is not None):
        raise ApiError(422, "validation failed",
                       [{"field": "select", "message": "give either 'select' (a list of indexes) or 'all': true"}])
    by_index = {item.index: item for item in found.items}
    if body.all:
        return [item for item in found.items if item.action is not None]
    details: list[Detail] = []
    for position, index in enumerate(body.select or ()):
        item = by_index.get(index)
        if item is None or item.action is None:
            why = "no such item" if item is None else f"item cannot be imported: {'; '.join(item.notes)}"
            details.append({"field": f"select.{position}", "message": why})
    if details:
        raise ApiError(422, "validation failed", details)
    return [by_index[index] for index in dict.fromkeys(body.select or ())]


async def _new_parameters(request: web.Request, found: Preview, body: ImportRequest) -> list[Parameter]:
    if not body.variables:
        return []
    taken = {p.tag for p in await deps(request).store.list_parameters()} | set(ALL_PARAMETERS)
    fresh: dict[str, Parameter] = {}
    for variable in found.variables:
        if variable.key not in taken and is_valid_tag(variable.key):
            fresh.setdefault(variable.key, Parameter(variable.key, variable.value, variable.secret))
    return list(fresh.values())


async def import_collection(request: web.Request) -> web.Response:
    api = deps(request)
    body = await read_model(request, ImportRequest, POSTMAN_LIMIT)
    found = await _preview(request, json.dumps(body.collection).encode("utf-8"))
    items = _selected(found, body)
    parameters = await _new_parameters(request, found, body)
    created = await api.store.import_collection([item.action for item in items if item.action], parameters)
    api.on_config_change()
    view = await ActionView.load(api.store)
    return web.json_response({"created": [view.json(action) for action in created],
                              "report": [item.to_json() for item in items],
                              "parameters": [p.tag for p in parameters]}, status=201)


ROUTES = (
    Route("POST", f"{API_PREFIX}/postman/preview", preview_collection,
          "Preview a Postman collection (v2.0/v2.1): per-item report and variables", "postman",
          request="PostmanCollection", response="PostmanPreview"),
    Route("POST", f"{API_PREFIX}/postman/import", import_collection,
          "Import the selected (or all importable) requests of a collection as actions", "postman",
          request="PostmanImport", response="PostmanImportResult", status=201, errors=(409,)),
)
