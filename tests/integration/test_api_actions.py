"""Actions through HTTP: CRUD, search and paging, undefined parameters, Save & Test against a real sink, dry run."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import NOW, Api, action_json, running_api
from tests.support.receiver import Receiver, Reply


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


async def _create(api: Api, **changes: Any) -> dict[str, Any]:
    status, body = await api.call("POST", "/api/v1/actions", json=action_json(**changes))
    assert status == 201, body
    return dict(body)


class TestCreate:
    async def test_created(self, api: Api) -> None:
        """Given a valid action, when created, then 201 with its id, request line and undefined parameters."""
        body = await _create(api, url="http://{{IP}}/index.php?apikey={{API_Key}}&action=x")
        assert body["id"] >= 1
        assert body["url"] == "http://{{IP}}/index.php"
        assert body["query"][:2] == [{"key": "apikey", "value": "{{API_Key}}"}, {"key": "action", "value": "x"}]
        assert body["request_line"] == ("POST http://{{IP}}/index.php?apikey={{API_Key}}&action=x"
                                        "&caller={{caller_id}}")
        assert body["undefined_parameters"] == ["IP", "API_Key"]
        assert (body["active_events"], body["events"]) == (0, [])
        assert (await api.store.get_action(body["id"])).name == "crm"
        assert api.changes == [1]

    async def test_duplicate_name(self, api: Api) -> None:
        """Given an action named crm, when another crm is created, then 409 and only one exists."""
        await _create(api)
        status, body = await api.call("POST", "/api/v1/actions", json=action_json())
        assert status == 409
        assert "crm" in body["error"]
        assert len(await api.store.all_actions()) == 1

    @pytest.mark.parametrize(
        ("changes", "field"),
        [({"name": ""}, "name"), ({"method": "TRACE"}, "method"), ({"url": "ftp://x"}, "url"),
         ({"body": {"type": "raw", "raw": 5}}, "body.raw"), ({"auth": {"type": "bearer"}}, "auth.token"),
         ({"timeout_s": -1}, "timeout_s"), ({"headers": [{"key": "X\nY", "value": "1"}]}, "headers.0.key")],
    )
    async def test_invalid(self, api: Api, changes: dict[str, Any], field: str) -> None:
        """Given an invalid field, when created, then 422 names it and nothing is stored."""
        status, body = await api.call("POST", "/api/v1/actions", json=action_json(**changes))
        assert status == 422
        assert field in [detail["field"] for detail in body["details"]]
        assert await api.store.all_actions() == []
        assert api.changes == []


class TestReadUpdateDelete:
    async def test_get(self, api: Api) -> None:
        """Given a stored action, when fetched, then it is returned with its undefined parameters."""
        created = await _create(api)
        status, body = await api.call("GET", f"/api/v1/actions/{created['id']}")
        assert (status, body) == (200, created)
        assert body["undefined_parameters"] == ["API_Key"]

    async def test_undefined_until_defined(self, api: Api) -> None:
        """Given an action using {{API_Key}}, when the parameter is defined, then it is no longer undefined."""
        created = await _create(api)
        await api.call("POST", "/api/v1/parameters", json={"tag": "API_Key", "value": "k"})
        _, body = await api.call("GET", f"/api/v1/actions/{created['id']}")
        assert body["undefined_parameters"] == []

    @pytest.mark.parametrize("ident", ["999", "0", "99999999999999999999", "abc", "-1"])
    async def test_get_missing(self, api: Api, ident: str) -> None:
        """Given an id that does not exist (or cannot), when fetched, then 404."""
        status, body = await api.call("GET", f"/api/v1/actions/{ident}")
        assert status == 404
        assert body["error"]

    async def test_update(self, api: Api) -> None:
        """Given a stored action, when replaced, then the new fields are stored under the same id."""
        created = await _create(api)
        status, body = await api.call("PUT", f"/api/v1/actions/{created['id']}",
                                      json=action_json("renamed", method="GET", body={"type": "none"}))
        assert (status, body["id"], body["name"], body["method"]) == (200, created["id"], "renamed", "GET")
        assert (await api.store.get_action(created["id"])).name == "renamed"

    async def test_update_conflict(self, api: Api) -> None:
        """Given actions a and b, when b is renamed a, then 409 and b keeps its name."""
        await _create(api, name="a")
        second = await _create(api, name="b")
        status, _ = await api.call("PUT", f"/api/v1/actions/{second['id']}", json=action_json("a"))
        assert status == 409
        assert (await api.store.get_action(second["id"])).name == "b"

    async def test_update_invalid(self, api: Api) -> None:
        """Given a stored action, when replaced by an invalid one, then 422 and it is unchanged."""
        created = await _create(api)
        status, body = await api.call("PUT", f"/api/v1/actions/{created['id']}", json=action_json(url="nope"))
        assert status == 422
        assert body["details"][0]["field"] == "url"
        assert (await api.store.get_action(created["id"])).url == "http://127.0.0.1:9/hook"

    async def test_update_missing(self, api: Api) -> None:
        """Given no action 42, when replaced, then 404 and nothing is created."""
        status, _ = await api.call("PUT", "/api/v1/actions/42", json=action_json())
        assert status == 404
        assert await api.store.all_actions() == []

    async def test_delete_unbinds(self, api: Api) -> None:
        """Given an action bound to an event, when deleted, then 204, it is gone and the event is unbound."""
        created = await _create(api)
        await api.call("PUT", "/api/v1/events/call_answered", json={"active": True, "actions": [created["id"]]})
        status, _ = await api.call("DELETE", f"/api/v1/actions/{created['id']}")
        assert status == 204
        assert (await api.call("GET", f"/api/v1/actions/{created['id']}"))[0] == 404
        assert (await api.store.get_event("call_answered")).action_ids == ()

    async def test_delete_missing(self, api: Api) -> None:
        """Given no action 7, when deleted, then 404."""
        assert (await api.call("DELETE", "/api/v1/actions/7"))[0] == 404

    async def test_active_events(self, api: Api) -> None:
        """Given an action bound to an active and an inactive event, then it counts one active event."""
        created = await _create(api)
        await api.call("PUT", "/api/v1/events/call_answered", json={"active": True, "actions": [created["id"]]})
        await api.call("PUT", "/api/v1/events/ringing", json={"actions": [created["id"]]})
        _, body = await api.call("GET", f"/api/v1/actions/{created['id']}")
        assert (body["active_events"], body["events"]) == (1, ["call_answered", "ringing"])


class TestList:
    async def test_search_and_paging(self, api: Api) -> None:
        """Given 7 actions, when searched and paged, then pages hold the matches in name order."""
        for number in range(5):
            await _create(api, name=f"crm-{number}")
        await _create(api, name="billing", url="http://127.0.0.1:9/bill")
        await _create(api, name="other", description="sends to the BILLING system")
        status, body = await api.call("GET", "/api/v1/actions", params={"per_page": "2", "page": "2"})
        assert (status, body["total"], body["page"], body["per_page"]) == (200, 7, 2, 2)
        assert [item["name"] for item in body["items"]] == ["crm-1", "crm-2"]
        _, found = await api.call("GET", "/api/v1/actions", params={"search": "bill"})
        assert [item["name"] for item in found["items"]] == ["billing", "other"]
        assert found["items"][0]["request_line"].startswith("POST http://127.0.0.1:9/bill")

    @pytest.mark.parametrize(("key", "value"), [("page", "0"), ("page", "x"), ("per_page", "501")])
    async def test_bad_paging(self, api: Api, key: str, value: str) -> None:
        """Given a bad paging parameter, when listing, then 422 names it."""
        status, body = await api.call("GET", "/api/v1/actions", params={key: value})
        assert status == 422
        assert body["details"][0]["field"] == f"query.{key}"


class TestSaveAndTest:
    async def test_sends_and_records(self, api: Api, rx: Receiver) -> None:
        """Given an action to the receiver, when tested, then it is sent with sample values, the result carries
        the receiver's answer, and it is logged as test.<id>.<t>."""
        rx.on("/hook", Reply(200, "thanks from the CRM"))
        await api.call("POST", "/api/v1/parameters", json={"tag": "API_Key", "value": "k-1", "secret": True})
        created = await _create(api, url=f"{rx.url}/hook")
        status, body = await api.call("POST", f"/api/v1/actions/{created['id']}/test")
        event = f"test.{created['id']}.{int(NOW.timestamp())}"
        assert status == 200
        assert (body["status"], body["message"], body["event"]) == (200, "thanks from the CRM", event)
        (sent,) = rx.requests
        assert (sent.method, sent.path_qs, sent.header("X-Key")) == ("POST", "/hook?caller=201", "k-1")
        assert sent.json() == {"event": event, "call": f"{int(NOW.timestamp())}.1"}
        _, log = await api.call("GET", "/api/v1/activity")
        assert log["items"][0]["event"] == event
        assert (log["items"][0]["action"], log["items"][0]["status"]) == ("crm", 200)

    async def test_values_override(self, api: Api, rx: Receiver) -> None:
        """Given values in the body, when tested, then they replace the samples."""
        created = await _create(api, url=f"{rx.url}/hook")
        await api.call("POST", f"/api/v1/actions/{created['id']}/test", json={"values": {"caller_id": "555"}})
        assert [sent.path_qs for sent in rx.requests] == ["/hook?caller=555"]

    async def test_failure_recorded(self, api: Api, rx: Receiver) -> None:
        """Given a receiver answering 500, when tested, then the result and the activity row carry 500."""
        rx.answer = Reply(500, "boom")
        created = await _create(api, url=f"{rx.url}/hook")
        _, body = await api.call("POST", f"/api/v1/actions/{created['id']}/test")
        assert body["status"] == 500
        rows, total = await api.store.search_activity(status=500)
        assert (total, rows[0].action_id) == (1, created["id"])

    async def test_missing(self, api: Api) -> None:
        """Given no action 5, when tested, then 404 and nothing is logged."""
        assert (await api.call("POST", "/api/v1/actions/5/test"))[0] == 404
        assert (await api.store.search_activity())[1] == 0

    async def test_bad_values(self, api: Api, rx: Receiver) -> None:
        """Given values that are not strings, when tested, then 422 naming the value and nothing is sent."""
        created = await _create(api, url=f"{rx.url}/hook")
        status, body = await api.call("POST", f"/api/v1/actions/{created['id']}/test",
                                      json={"values": {"caller_id": 5}})
        assert status == 422
        assert body["details"][0]["field"] == "values.caller_id"
        assert rx.requests == []


class TestDryRun:
    async def test_rendered_with_secrets_masked(self, api: Api) -> None:
        """Given a secret parameter, when dry-run, then the request is rendered with the secret masked."""
        await api.call("POST", "/api/v1/parameters", json={"tag": "API_Key", "value": "hunter2", "secret": True})
        created = await _create(api)
        status, body = await api.call("POST", f"/api/v1/actions/{created['id']}/dry-run")
        assert status == 200
        assert body["url"] == "http://127.0.0.1:9/hook?caller=201"
        assert {"key": "X-Key", "value": "********"} in body["headers"]
        assert "hunter2" not in json.dumps(body)
        assert json.loads(body["body"])["call"] == f"{int(NOW.timestamp())}.1"
        assert (await api.store.search_activity())[1] == 0

    async def test_missing(self, api: Api) -> None:
        """Given no action 3, when dry-run, then 404."""
        assert (await api.call("POST", "/api/v1/actions/3/dry-run"))[0] == 404


class TestDryRunUnsaved:
    async def test_rendered_not_saved(self, api: Api) -> None:
        """Given a secret parameter and an action never saved, when dry-run with a value, then the request is
        rendered with that value and the secret masked, and nothing is stored, logged or reloaded."""
        await api.call("POST", "/api/v1/parameters", json={"tag": "API_Key", "value": "hunter2", "secret": True})
        changes = len(api.changes)
        status, body = await api.call("POST", "/api/v1/actions/dry-run",
                                      json={"action": action_json(), "values": {"caller_id": "555"}})
        assert status == 200, body
        assert body["url"] == "http://127.0.0.1:9/hook?caller=555"
        assert {"key": "X-Key", "value": "********"} in body["headers"]
        assert "hunter2" not in json.dumps(body)
        assert json.loads(body["body"])["call"] == f"{int(NOW.timestamp())}.1"
        assert await api.store.all_actions() == []
        assert (await api.store.search_activity())[1] == 0
        assert len(api.changes) == changes

    async def test_same_as_saved(self, api: Api) -> None:
        """Given an action, when dry-run unsaved and dry-run after saving, then method, URL, headers and timeout
        are the same (one rendering path)."""
        _, unsaved = await api.call("POST", "/api/v1/actions/dry-run", json={"action": action_json(timeout_s=2.5)})
        created = await _create(api, timeout_s=2.5)
        _, saved = await api.call("POST", f"/api/v1/actions/{created['id']}/dry-run")
        keys = ("method", "url", "headers", "timeout_s")
        assert {key: unsaved[key] for key in keys} == {key: saved[key] for key in keys}

    @pytest.mark.parametrize(
        ("payload", "field"),
        [({"action": action_json(auth={"type": "bearer"})}, "auth.token"),
         ({"action": action_json(body={"type": "raw", "raw": 5})}, "body.raw"),
         ({"action": action_json(url="ftp://x")}, "url"),
         ({"action": action_json(), "values": {"caller_id": 5}}, "values.caller_id"),
         ({"values": {}}, "action")],
        ids=["bearer-token", "raw-body", "url", "values", "no-action"],
    )
    async def test_invalid(self, api: Api, payload: dict[str, Any], field: str) -> None:
        """Given an invalid action or values, when dry-run, then 422 names the field as Save would (auth.token,
        not pydantic's auth.bearer.token)."""
        status, body = await api.call("POST", "/api/v1/actions/dry-run", json=payload)
        assert status == 422, body
        assert field in [detail["field"] for detail in body["details"]]
        assert all(".bearer." not in detail["field"] for detail in body["details"])

    async def test_malformed(self, api: Api) -> None:
        """Given a body that is not JSON, when dry-run, then 400."""
        assert (await api.call("POST", "/api/v1/actions/dry-run", data=b"{"))[0] == 400

