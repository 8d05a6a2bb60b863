"""Actions: CRUD with search and paging, undefined parameters, Save & Test and dry run (docs/actions.md, §7)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from agent.admin_api.errors import ApiError, invalid
from agent.admin_api.payload import paging, read_json
from agent.admin_api.routing import API_PREFIX, PAGING, Param, Route, deps, path_id
from agent.admin_api.tryout import dry_run, dry_run_unsaved, test_action
from agent.mapping.catalog import ALL_PARAMETERS
from agent.store.facade import Store
from agent.store.model import Action
from agent.webhooks.request import display_url
from agent.webhooks.schema import MaskWithoutValue, action_from_json, action_to_json, unmask_auth, validation_details
from agent.webhooks.template import undefined_tags


def action_id(request: web.Request) -> int:
    """The `{id}` of the path; ids that cannot exist are simply not found."""
    return path_id(request, "action")


def request_line(action: Action) -> str:
    """`METHOD URL` with the query list shown after `?`, as the actions list describes each action."""
    return f"{action.method} {display_url(action)}"


class ActionView:
    """What the JSON of an action needs besides the action: its events and the defined tags."""

    def __init__(self, events: dict[int, tuple[str, ...]], active: set[str], known: set[str]) -> None:
        self._events, self._active, self._known = events, active, known

    @classmethod
    async def load(cls, store: Store) -> ActionView:
        active = {event.key for event in await store.list_events() if event.active}
        custom = {parameter.tag for parameter in await store.list_parameters()}
        return cls(await store.action_events(), active, {*ALL_PARAMETERS, *custom})

    def json(self, action: Action) -> dict[str, Any]:
        events = self._events.get(action.id or 0, ())
        doc = action_to_json(action, active_events=sum(1 for key in events if key in self._active),
                             undefined=undefined_tags(action, self._known))
        doc["events"] = list(events)
        doc["request_line"] = request_line(action)
        return doc


async def _read_action(request: web.Request, stored: Action | None = None) -> Action:
    """The action in the body; credentials sent back as the mask keep the `stored` ones."""
    try:
        action = action_from_json(await read_json(request))
    except ValidationError as exc:
        raise ApiError(422, "validation failed", validation_details(exc)) from None
    try:
        return replace(action, auth=unmask_auth(action.auth, stored.auth if stored is not None else None))
    except MaskWithoutValue as exc:
        raise invalid(exc.field, str(exc)) from None


async def _one(request: web.Request, action: Action, status: int = 200) -> web.Response:
    view = await ActionView.load(deps(request).store)
    return web.json_response(view.json(action), status=status)


async def list_actions(request: web.Request) -> web.Response:
    store = deps(request).store
    page = paging(request)
    actions, total = await store.list_actions(page.search, page.page, page.per_page)
    view = await ActionView.load(store)
    return web.json_response(page.envelope([view.json(action) for action in actions], total))


async def get_action(request: web.Request) -> web.Response:
    return await _one(request, await deps(request).store.get_action(action_id(request)))


async def create_action(request: web.Request) -> web.Response:
    api = deps(request)
    action = await _read_action(request)
    created = await api.store.create_action(action)
    api.on_config_change()
    return await _one(request, created, status=201)


async def update_action(request: web.Request) -> web.Response:
    api = deps(request)
    ident = action_id(request)
    action = await _read_action(request, await api.store.get_action(ident))
    updated = await api.store.update_action(_with_id(action, ident))
    api.on_config_change()
    return await _one(request, updated)


def _with_id(action: Action, ident: int) -> Action:
    return replace(action, id=ident)


async def delete_action(request: web.Request) -> web.Response:
    api = deps(request)
    await api.store.delete_action(action_id(request))
    api.on_config_change()
    return web.Response(status=204)


async def test(request: web.Request) -> web.Response:
    return web.json_response(await test_action(request, action_id(request)))


async def dry_run_action(request: web.Request) -> web.Response:
    return web.json_response(await dry_run(request, action_id(request)))


async def dry_run_unsaved_action(request: web.Request) -> web.Response:
    return web.json_response(await dry_run_unsaved(request))


_ID = Param("id", "action id", "integer", where="path")
_ONE = f"{API_PREFIX}/actions/{{id}}"
ROUTES = (
    Route("GET", f"{API_PREFIX}/actions", list_actions, "List actions (search in name, description, URL)",
          "actions", response="ActionPage", params=PAGING, errors=(422,)),
    Route("POST", f"{API_PREFIX}/actions", create_action, "Create an action", "actions", request="ActionInput",
          response="Action", status=201, errors=(409,)),
    Route("POST", f"{API_PREFIX}/actions/dry-run", dry_run_unsaved_action,
          "Render an unsaved action with sample values, without saving or sending it (422 names fields as "
          "Save does)", "actions", request="UnsavedDryRun", response="RenderedRequest"),
    Route("GET", _ONE, get_action, "Get one action with its undefined parameters", "actions", response="Action",
          params=(_ID,), errors=(404,)),
    Route("PUT", _ONE, update_action, "Replace an action", "actions", request="ActionInput", response="Action",
          params=(_ID,), errors=(404, 409)),
    Route("DELETE", _ONE, delete_action, "Delete an action (it is unbound from every event)", "actions",
          status=204, params=(_ID,), errors=(404,)),
    Route("POST", f"{_ONE}/test", test, "Save & Test: send the action once now with sample values", "actions",
          request="TestValues", response="TestResult", params=(_ID,), errors=(404,)),
    Route("POST", f"{_ONE}/dry-run", dry_run_action, "Render the action with sample values without sending it",
          "actions", request="TestValues", response="RenderedRequest", params=(_ID,), errors=(404,)),
)
