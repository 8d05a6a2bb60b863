"""The five predefined system events: list, get, and update (active flag and bound actions)."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from agent.admin_api.errors import ApiError
from agent.admin_api.payload import read_model
from agent.admin_api.routing import API_PREFIX, MAX_ID, Param, Route, deps
from agent.store.records import EventRecord

ActionId = Annotated[int, Field(ge=1, le=MAX_ID)]


class EventUpdate(BaseModel):
    """PUT body: either field may be left out to keep it; `actions` replaces the bindings, in order."""

    model_config = ConfigDict(extra="forbid", strict=True)

    active: bool | None = None
    actions: list[ActionId] | None = Field(default=None, max_length=10_000)


def event_json(event: EventRecord) -> dict[str, Any]:
    return {"key": event.key, "name": event.name, "description": event.description, "active": event.active,
            "actions": list(event.action_ids)}


async def list_events(request: web.Request) -> web.Response:
    events = [event_json(e) for e in await deps(request).store.list_events()]
    return web.json_response({"items": events, "page": 1, "per_page": len(events), "total": len(events)})


async def get_event(request: web.Request) -> web.Response:
    event = await deps(request).store.get_event(request.match_info["key"])
    return web.json_response(event_json(event))


async def update_event(request: web.Request) -> web.Response:
    api = deps(request)
    key = request.match_info["key"]
    await api.store.get_event(key)
    update = await read_model(request, EventUpdate)
    if update.actions is not None:
        await _check_action_ids(request, update.actions)
    event = await api.store.update_event(key, active=update.active, action_ids=update.actions)
    api.on_config_change()
    return web.json_response(event_json(event))


async def _check_action_ids(request: web.Request, ids: list[int]) -> None:
    """422 naming each id that is not an existing action (the store checks again inside its transaction)."""
    known = {action.id for action in await deps(request).store.all_actions()}
    details = [{"field": f"actions.{i}", "message": f"action {action_id} does not exist"}
               for i, action_id in enumerate(ids) if action_id not in known]
    if details:
        raise ApiError(422, "validation failed", details)


_KEY = Param("key", "event key, e.g. call_answered", where="path")
ROUTES = (
    Route("GET", f"{API_PREFIX}/events", list_events, "List the system events", "events", response="EventPage"),
    Route("GET", f"{API_PREFIX}/events/{{key}}", get_event, "Get one event", "events", response="Event",
          params=(_KEY,), errors=(404,)),
    Route("PUT", f"{API_PREFIX}/events/{{key}}", update_event, "Set an event's active flag and bound actions",
          "events", request="EventUpdate", response="Event", params=(_KEY,), errors=(404,)),
)
