"""The activity log (search, filters, paging, newest first) and the live status, through HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.store.records import NewActivity
from tests.support.api import Api, running_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


async def _seed(api: Api) -> None:
    rows = [
        ("crm", "call_answered", 200, "ok", 1_764_331_200.0),
        ("crm", "call_hangup", 500, "server error", 1_764_331_210.0),
        ("billing", "call_answered", 0, "Connection refused", 1_764_331_220.0),
        ("billing", "test.2.1764331230", 201, "created", 1_764_331_230.0),
    ]
    for action, event, status, message, date in rows:
        await api.store.add_activity(NewActivity(action, 1, event, "c-1", 1, status, message, 12.4, date))


class TestActivity:
    async def test_newest_first(self, api: Api) -> None:
        """Given four attempts, when listed, then newest first in the documented shape."""
        await _seed(api)
        status, body = await api.call("GET", "/api/v1/activity")
        assert (status, body["total"]) == (200, 4)
        assert [item["event"] for item in body["items"]] == [
            "test.2.1764331230", "call_answered", "call_hangup", "call_answered"]
        assert body["items"][0] == {
            "id": 4, "action": "billing", "action_id": 1, "event": "test.2.1764331230", "call_id": "c-1",
            "attempt": 1, "status": 201, "message": "created", "duration_ms": 12, "date": "2025-11-28T12:00:30Z",
        }

    @pytest.mark.parametrize(
        ("params", "messages"),
        [({"search": "refused"}, ["Connection refused"]), ({"search": "hangup"}, ["server error"]),
         ({"action": "crm"}, ["server error", "ok"]), ({"event": "call_answered"}, ["Connection refused", "ok"]),
         ({"status": "0"}, ["Connection refused"]), ({"failed": "true"}, ["Connection refused", "server error"]),
         ({"failed": "false", "action": "billing"}, ["created"]), ({"per_page": "1", "page": "3"}, ["server error"])],
    )
    async def test_filters(self, api: Api, params: dict[str, str], messages: list[str]) -> None:
        """Given four attempts, when searched or filtered, then only the matching ones come back."""
        await _seed(api)
        status, body = await api.call("GET", "/api/v1/activity", params=params)
        assert status == 200
        assert [item["message"] for item in body["items"]] == messages

    @pytest.mark.parametrize(("key", "value"), [("status", "abc"), ("failed", "maybe"), ("per_page", "0")])
    async def test_bad_filter(self, api: Api, key: str, value: str) -> None:
        """Given a bad filter value, when searched, then 422 names the query parameter."""
        status, body = await api.call("GET", "/api/v1/activity", params={key: value})
        assert (status, body["details"][0]["field"]) == (422, f"query.{key}")


class TestStatus:
    async def test_status(self, api: Api) -> None:
        """Given the daemon's status source, when /status is read, then its data comes back as JSON."""
        status, body = await api.call("GET", "/api/v1/status")
        assert status == 200
        assert body["ami"] == {"connected": True, "last_event_at": "2026-11-28T12:00:00Z"}
        assert (body["calls_in_progress"], body["outbox_depth"], body["counters"]) == (2, 0, {"events": 7})
