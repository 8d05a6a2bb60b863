"""The global switch: actions are sent only when it is on (default off)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from agent.admin_api.payload import read_model
from agent.admin_api.routing import API_PREFIX, Route, deps


class SettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    actions_enabled: bool


async def get_settings(request: web.Request) -> web.Response:
    current = await deps(request).store.get_settings()
    return web.json_response({"actions_enabled": current.actions_enabled})


async def update_settings(request: web.Request) -> web.Response:
    api = deps(request)
    update = await read_model(request, SettingsUpdate)
    current = await api.store.set_actions_enabled(update.actions_enabled)
    api.on_config_change()
    return web.json_response({"actions_enabled": current.actions_enabled})


ROUTES = (
    Route("GET", f"{API_PREFIX}/settings", get_settings, "Get the global switch", "settings",
          response="Settings"),
    Route("PUT", f"{API_PREFIX}/settings", update_settings, "Turn actions on or off for all events", "settings",
          request="Settings", response="Settings"),
)
