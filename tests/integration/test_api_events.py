"""Events (list, get, update active + bindings) and the global switch, through HTTP on a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.mapping.catalog import EVENT_KEYS
from tests.support.api import Api, action_json, running_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


async def _create(api: Api, name: str) -> int:
    status, body = await api.call("POST", "/api/v1/actions", json=action_json(name))
    assert status == 201, body
    return int(body["id"])


class TestEvents:
    async def test_list(self, api: Api) -> None:
        """Given a new store, when events are listed, then the five system events are there, inactive, unbound."""
        status, body = await api.call("GET", "/api/v1/events")
        assert status == 200
        assert body["total"] == 5
        assert {item["key"] for item in body["items"]} == EVENT_KEYS
        answered = next(item for item in body["items"] if item["key"] == "call_answered")
        assert answered == {"key": "call_answered", "name": "Answered Call", "active": False, "actions": [],
                            "description": "On completed call, if call is answered by extension"}

    async def test_get(self, api: Api) -> None:
        """Given an event key, when fetched, then that event is returned."""
        status, body = await api.call("GET", "/api/v1/events/ringing")
        assert (status, body["key"], body["name"]) == (200, "ringing", "Ringing")

    async def test_get_unknown(self, api: Api) -> None:
        """Given an unknown key, when fetched, then 404 in the error shape."""
        status, body = await api.call("GET", "/api/v1/events/call_exploded")
        assert status == 404
        assert "call_exploded" in body["error"]

    async def test_update(self, api: Api) -> None:
        """Given two actions, when an event is activated and bound to both, then it shows them in that order."""
        first, second = await _create(api, "a"), await _create(api, "b")
        status, body = await api.call("PUT", "/api/v1/events/call_answered",
                                      json={"active": True, "actions": [second, first]})
        assert (status, body["active"], body["actions"]) == (200, True, [second, first])
        assert (await api.store.get_event("call_answered")).action_ids == (second, first)
        assert api.changes

    async def test_partial_update(self, api: Api) -> None:
        """Given a bound event, when only `active` is sent, then the bindings stay."""
        first = await _create(api, "a")
        await api.call("PUT", "/api/v1/events/ringing", json={"actions": [first]})
        status, body = await api.call("PUT", "/api/v1/events/ringing", json={"active": True})
        assert (status, body["active"], body["actions"]) == (200, True, [first])

    async def test_unknown_action_ids(self, api: Api) -> None:
        """Given a binding to a missing action, when updated, then 422 names the item and nothing changes."""
        first = await _create(api, "a")
        status, body = await api.call("PUT", "/api/v1/events/call_hangup",
                                      json={"active": True, "actions": [first, 999]})
        assert status == 422
        assert body["details"][0]["field"] == "actions.1"
        event = await api.store.get_event("call_hangup")
        assert (event.active, event.action_ids) == (False, ())

    @pytest.mark.parametrize(
        ("payload", "field"),
        [({"active": "yes"}, "active"), ({"actions": ["1"]}, "actions.0"), ({"actions": [0]}, "actions.0"),
         ({"actives": True}, "actives"), ({"actions": 3}, "actions")],
    )
    async def test_invalid_body(self, api: Api, payload: object, field: str) -> None:
        """Given a body of the wrong shape, when an event is updated, then 422 names the offending field."""
        status, body = await api.call("PUT", "/api/v1/events/call_hangup", json=payload)
        assert status == 422
        assert field in [detail["field"] for detail in body["details"]]
        assert (await api.store.get_event("call_hangup")).active is False

    async def test_update_unknown_event(self, api: Api) -> None:
        """Given an unknown key, when updated, then 404."""
        status, _ = await api.call("PUT", "/api/v1/events/nope", json={"active": True})
        assert status == 404


class TestSettings:
    async def test_default_off(self, api: Api) -> None:
        """Given a new store, when settings are read, then actions are globally off."""
        assert await api.call("GET", "/api/v1/settings") == (200, {"actions_enabled": False})

    async def test_switch_on(self, api: Api) -> None:
        """Given the switch off, when turned on, then it reads back on and a config change is signalled."""
        assert await api.call("PUT", "/api/v1/settings", json={"actions_enabled": True}) == (
            200, {"actions_enabled": True})
        assert (await api.store.get_settings()).actions_enabled is True
        assert api.changes == [1]

    @pytest.mark.parametrize("payload", [{}, {"actions_enabled": 1}, {"actions_enabled": True, "x": 1}, []])
    async def test_invalid(self, api: Api, payload: object) -> None:
        """Given an invalid body, when the switch is set, then 422 and it stays off."""
        status, body = await api.call("PUT", "/api/v1/settings", json=payload)
        assert status == 422
        assert body["details"]
        assert (await api.store.get_settings()).actions_enabled is False
