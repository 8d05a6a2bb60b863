"""Parameters: the system tags (read-only, documented) and custom ones (CRUD), each with its usage count.

Secret values are never sent back: they show as `********`. A PUT without `value` (or, for a secret parameter,
with the mask `********` itself) keeps the stored value, so a page can change the flag without knowing it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.admin_api.errors import ApiError
from agent.admin_api.payload import paging, read_model
from agent.admin_api.routing import API_PREFIX, PAGING, Param, Route, deps
from agent.mapping.catalog import EXTRA_PARAMETERS, SYSTEM_PARAMETERS
from agent.store.model import Parameter
from agent.webhooks.request import MASK
from agent.webhooks.template import is_valid_tag, usage_counts

MAX_VALUE = 64 * 1024
SYSTEM_DESCRIPTIONS = {**SYSTEM_PARAMETERS, **EXTRA_PARAMETERS}


class ParameterInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    tag: str = Field(min_length=1, max_length=200)
    value: str = Field(max_length=MAX_VALUE)
    secret: bool = False

    @field_validator("tag")
    @classmethod
    def _tag(cls, tag: str) -> str:
        if not is_valid_tag(tag):
            raise ValueError("a tag may contain only letters, digits, '_', '-', '/' and '.'")
        return tag


class ParameterUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    value: str | None = Field(default=None, max_length=MAX_VALUE)
    secret: bool | None = None


def parameter_json(parameter: Parameter, uses: int) -> dict[str, Any]:
    return {"tag": parameter.tag, "value": MASK if parameter.secret else parameter.value,
            "secret": parameter.secret, "system": False, "description": "", "actions": uses}


def system_json(tag: str, uses: int) -> dict[str, Any]:
    return {"tag": tag, "value": "", "secret": False, "system": True, "description": SYSTEM_DESCRIPTIONS[tag],
            "actions": uses}


async def _all_parameters(request: web.Request) -> list[dict[str, Any]]:
    store = deps(request).store
    custom = await store.list_parameters()
    counts = usage_counts(await store.all_actions(), [*SYSTEM_DESCRIPTIONS, *(p.tag for p in custom)])
    return [*(system_json(tag, counts[tag]) for tag in SYSTEM_DESCRIPTIONS),
            *(parameter_json(p, counts[p.tag]) for p in custom)]


def _matches(item: dict[str, Any], needle: str) -> bool:
    texts = (item["tag"], item["description"], "" if item["secret"] else item["value"])
    return any(needle in text.lower() for text in texts)


async def list_parameters(request: web.Request) -> web.Response:
    page = paging(request, default_per_page=100)
    needle = page.search.lower()
    items = [item for item in await _all_parameters(request) if _matches(item, needle)]
    return web.json_response(page.envelope(items[page.offset:page.offset + page.per_page], len(items)))


async def get_parameter(request: web.Request) -> web.Response:
    tag = request.match_info["tag"]
    for item in await _all_parameters(request):
        if item["tag"] == tag:
            return web.json_response(item)
    raise ApiError(404, f"parameter {tag!r} does not exist")


def _refuse_system(tag: str) -> None:
    if tag in SYSTEM_DESCRIPTIONS:
        raise ApiError(409, f"{tag!r} is a system parameter: it cannot be created, changed or deleted")


async def create_parameter(request: web.Request) -> web.Response:
    api = deps(request)
    body = await read_model(request, ParameterInput)
    _refuse_system(body.tag)
    await api.store.create_parameter(Parameter(body.tag, body.value, body.secret))
    api.on_config_change()
    return await _respond(request, body.tag, status=201)


async def update_parameter(request: web.Request) -> web.Response:
    api = deps(request)
    tag = request.match_info["tag"]
    _refuse_system(tag)
    current = await api.store.get_parameter(tag)
    body = await read_model(request, ParameterUpdate)
    value = current.value if body.value is None or (current.secret and body.value == MASK) else body.value
    secret = current.secret if body.secret is None else body.secret
    await api.store.update_parameter(Parameter(tag, value, secret))
    api.on_config_change()
    return await _respond(request, tag)


async def delete_parameter(request: web.Request) -> web.Response:
    api = deps(request)
    tag = request.match_info["tag"]
    _refuse_system(tag)
    await api.store.delete_parameter(tag)
    api.on_config_change()
    return web.Response(status=204)


async def _respond(request: web.Request, tag: str, status: int = 200) -> web.Response:
    store = deps(request).store
    parameter = await store.get_parameter(tag)
    uses = usage_counts(await store.all_actions(), [tag])[tag]
    return web.json_response(parameter_json(parameter, uses), status=status)


_TAG = Param("tag", "parameter tag; may contain '/' (send it as is or as %2F)", where="path")
_ONE = f"{API_PREFIX}/parameters/{{tag:.+}}"
ROUTES = (
    Route("GET", f"{API_PREFIX}/parameters", list_parameters, "List system and custom parameters with usage counts",
          "parameters", response="ParameterPage", params=PAGING, errors=(422,)),
    Route("POST", f"{API_PREFIX}/parameters", create_parameter, "Create a custom parameter", "parameters",
          request="ParameterInput", response="Parameter", status=201, errors=(409,)),
    Route("GET", _ONE, get_parameter, "Get one parameter", "parameters", response="Parameter", params=(_TAG,),
          errors=(404,)),
    Route("PUT", _ONE, update_parameter, "Change a custom parameter's value or secret flag", "parameters",
          request="ParameterUpdate", response="Parameter", params=(_TAG,), errors=(404, 409)),
    Route("DELETE", _ONE, delete_parameter, "Delete a custom parameter", "parameters", status=204,
          params=(_TAG,), errors=(404, 409)),
)
