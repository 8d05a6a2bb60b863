"""Postman collection import: preview (per-item report, variables, clashes), then import a selection or all.

Collection variables become custom parameters at import when no parameter has their tag yet. A variable whose
tag is a system parameter, or a custom parameter with another value, is a clash: the preview lists each one
(both values, secrets masked) and the import takes `"choices": {"<variable>": "new" | "keep" | "overwrite" |
"system"}` (default `new`: the collection's value under a new tag; see agent/webhooks/postman_clash.py). Only
`overwrite` changes an existing parameter. Send `"variables": false` to create none. The actions and the
parameters are written in one store transaction (`Store.import_collection`): if anything fails, nothing is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
from agent.webhooks.postman_clash import bad_choices
from agent.webhooks.template import is_valid_tag


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    collection: dict[str, Any]
    select: list[int] | None = Field(default=None, max_length=100_000)
    all: bool = False
    variables: bool = True
    choices: dict[str, str] = Field(default_factory=dict, max_length=10_000)


async def _preview(request: web.Request, raw: bytes, choices: Mapping[str, str] | None = None) -> Preview:
    store = deps(request).store
    names = {action.name for action in await store.all_actions()}
    parameters = {parameter.tag: parameter for parameter in await store.list_parameters()}
    try:
        return preview(load_collection(raw), names, parameters, choices)
    except PostmanError as exc:
        raise ApiError(422, str(exc)) from None


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


async def _parameters(request: web.Request, found: Preview, body: ImportRequest) -> tuple[list[Parameter], ...]:
    """The parameters to create and those to overwrite (a clash resolved with `overwrite`)."""
    if not body.variables:
        return [], []
    existing = {p.tag: p for p in await deps(request).store.list_parameters()}
    overwrite = {clash.tag for clash in found.clashes if clash.choice == "overwrite"}
    fresh: dict[str, Parameter] = {}
    updates: dict[str, Parameter] = {}
    for variable in found.variables:
        old = existing.get(variable.key)
        if old is None and variable.key not in ALL_PARAMETERS and is_valid_tag(variable.key):
            fresh.setdefault(variable.key, Parameter(variable.key, variable.value, variable.secret))
        elif old is not None and variable.key in overwrite:
            updates.setdefault(variable.key, Parameter(old.tag, variable.value, old.secret or variable.secret))
    return list(fresh.values()), list(updates.values())


def _check_choices(found: Preview, body: ImportRequest) -> None:
    """422 naming each variable whose choice is not one of its clash's choices."""
    problems = bad_choices(body.choices, {clash.key: clash for clash in found.clashes})
    if problems:
        raise ApiError(422, "validation failed", [{"field": f"choices.{key}", "message": why} for key, why in problems])


async def import_collection(request: web.Request) -> web.Response:
    api = deps(request)
    body = await read_model(request, ImportRequest, POSTMAN_LIMIT)
    found = await _preview(request, json.dumps(body.collection).encode("utf-8"), body.choices)
    _check_choices(found, body)
    items = _selected(found, body)
    parameters, updates = await _parameters(request, found, body)
    created = await api.store.import_collection([item.action for item in items if item.action], parameters, updates)
    api.on_config_change()
    view = await ActionView.load(api.store)
    return web.json_response({"created": [view.json(action) for action in created],
                              "report": [item.to_json() for item in items],
                              "parameters": [p.tag for p in parameters],
                              "overwritten": [p.tag for p in updates]}, status=201)


ROUTES = (
    Route("POST", f"{API_PREFIX}/postman/preview", preview_collection,
          "Preview a Postman collection (v2.0/v2.1): per-item report and variables", "postman",
          request="PostmanCollection", response="PostmanPreview"),
    Route("POST", f"{API_PREFIX}/postman/import", import_collection,
          "Import the selected (or all importable) requests of a collection as actions", "postman",
          request="PostmanImport", response="PostmanImportResult", status=201, errors=(409,)),
)
