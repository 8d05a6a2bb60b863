"""Input a caller, a carrier or a careless import controls: it stays in its place, or it is refused clearly.

Path traversal through system parameters (a caller's name in the URL path), malformed URLs at save, at import
and at send time (docs/security.md, "Hostile input").
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path

import pytest
from yarl import URL

from agent.metrics import Metrics
from agent.store.facade import Store
from agent.store.model import Action, KeyValue, Parameter
from agent.webhooks.dispatcher import Dispatcher
from agent.webhooks.postman import preview
from agent.webhooks.request import render
from agent.webhooks.retry import RetryPolicy
from agent.webhooks.sender import Sender
from tests.security.hostile_http import hostile
from tests.support.api import action_json, running_api
from tests.support.delivery import engine, system_event
from tests.support.settings import fast_delivery

TRAVERSAL = "../../../admin/delete?x=1#frag"


def _path(url: str) -> str:
    return URL(url, encoded=True).raw_path


class TestOneSegment:
    @pytest.mark.parametrize(("value", "segment"), [
        (TRAVERSAL, "..%2F..%2F..%2Fadmin%2Fdelete%3Fx=1%23frag"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("a/b", "a%2Fb"),
        ("50%2F50", "50%252F50"),
        ("Jo O'Brien", "Jo%20O'Brien"),
        ("", ""),
    ])
    @pytest.mark.parametrize("tag", ["calling_name", "caller_id", "called_number", "tenant", "call_id"])
    def test_system_value_is_one_segment(self, tag: str, value: str, segment: str) -> None:
        """Given a system parameter in the URL path, when its value holds `/`, `?`, `#`, `%` or is a bare `.` or
        `..`, then it is exactly one path segment and the query and fragment are the template's."""
        action = Action("a", "GET", f"http://crm.example/calls/{{{{{tag}}}}}/info", query=(KeyValue("q", "1"),))
        url = render(action, {tag: value}).url
        assert url == f"http://crm.example/calls/{segment}/info?q=1"
        assert _path(url).split("/")[1:] == ["calls", segment, "info"]

    def test_custom_value_may_be_a_sub_path(self) -> None:
        """Given a custom parameter an administrator defined, then it may carry a sub-path and a base URL."""
        action = Action("a", "GET", "{{base}}/{{prefix}}/calls/{{caller_id}}")
        url = render(action, {"base": "https://crm.example:8443", "prefix": "api/v2", "caller_id": "../x"}).url
        assert url == "https://crm.example:8443/api/v2/calls/..%2Fx"

    def test_system_value_stays_in_its_host_label(self) -> None:
        """Given a system parameter in the host, when it holds `/`, `@`, `:` or `?`, then it cannot move the request
        to another host or path."""
        action = Action("a", "GET", "http://{{tenant}}.crm.example/hook")
        url = URL(render(action, {"tenant": "evil.example/x?@:1"}).url, encoded=True)
        assert (url.host, url.port, url.raw_path) == ("evil.examplex1.crm.example", 80, "/hook")

    async def test_on_the_wire(self, tmp_path: Path) -> None:
        """Given a caller name with a traversal in the URL path, when the sender sends it, then the receiver
        reads one segment in the request line."""
        async with hostile("echo") as echo, engine(tmp_path / "a.db") as e:
            action = Action("a", "GET", f"{echo.url}/calls/{{{{calling_name}}}}")
            result = await e.sender.send(render(action, {"calling_name": TRAVERSAL}))
        assert result.message.startswith("GET /calls/..%2F..%2F..%2Fadmin%2Fdelete%3Fx=1%23frag HTTP/1.1\r\n")


BAD_URLS = [
    "http://[::1/x",
    "http://a:99999/",
    "http://a:0/x",
    "http://a:80:80/",
    "http://" + "a" * 64 + ".example/",
    "http://a..b/",
    "http://-a.example/",
    "http://a<b/",
    "http://javascript:alert(1)",
]


class TestSaveAndImport:
    @pytest.mark.parametrize("url", BAD_URLS)
    async def test_refused_on_save(self, tmp_path: Path, url: str) -> None:
        """Given a malformed URL, when an action is created with it, then 422 names the url field."""
        async with running_api(tmp_path) as api:
            status, body = await api.call("POST", "/api/v1/actions", json=action_json(url=url))
        assert (status, [detail["field"] for detail in body["details"]]) == (422, ["url"])

    @pytest.mark.parametrize("url", ["http://[::1]:8080/x", "http://{{IP}}/x", "http://{{IP}}:{{Port}}/x",
                                     "http://h.example:{{Port}}/x", "https://{{Srv/Tenant-ID}}.pbx.example/x",
                                     "http://münchen.example/", "http://a_b.example/", "{{base}}/x"])
    async def test_valid_ones_stay_valid(self, tmp_path: Path, url: str) -> None:
        """Given a well-formed URL (tags standing for host, port or base), when saved, then it is accepted."""
        async with running_api(tmp_path) as api:
            status, body = await api.call("POST", "/api/v1/actions", json=action_json(url=url))
        assert status == 201, body

    @pytest.mark.parametrize("url", ["javascript:alert(1)", "http://[::1/x", "http://a:99999/"])
    def test_postman_skips(self, url: str) -> None:
        """Given a Postman request whose URL is malformed (`javascript:` included), when previewed, then it is
        skipped with the reason, not marked importable."""
        collection = {"info": {"name": "c", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/"},
                      "item": [{"name": "x", "request": {"method": "GET", "url": url}}]}
        (item,) = preview(collection, ()).items
        assert (item.status, item.action) == ("skipped", None)
        assert any(note.startswith("url: ") for note in item.notes), item.notes


class TestSendTime:
    @pytest.mark.parametrize("host", ["[::1", "a" * 64 + ".example", "a:99999"])
    async def test_final_failure_in_the_log(self, tmp_path: Path, host: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
        """Given queued rows whose URL cannot be built (a custom host parameter gone bad) and whose action was
        then deleted and the switch turned off, when the sender starts, then each row fails once for good, with
        a message in the activity log, and nothing is logged as an error (no retry loop, no traceback)."""
        caplog.set_level(logging.INFO, logger="agent")
        path = tmp_path / "a.db"
        store = await Store.open(path)
        delivery = fast_delivery()
        policy = RetryPolicy.from_settings(delivery)
        await store.create_parameter(Parameter("IP", host))
        action = await store.create_action(Action("crm", "POST", "http://{{IP}}/hook?k=1"))
        await store.update_event("call_answered", active=True, action_ids=[action.id or 0])
        await store.set_actions_enabled(True)
        (queued,) = await Dispatcher(store, policy, lambda rows: None, Metrics(), time.time).dispatch(
            [system_event("call_answered", "c1")])
        await store.delete_action(action.id or 0)
        await store.set_actions_enabled(False)
        sender = Sender(store, delivery, policy, Metrics(), time.time)
        await sender.start()
        try:
            async with asyncio.timeout(10):
                await sender.wait_idle()
            rows, total = await store.search_activity()
        finally:
            await sender.close()
            await store.close()
        with sqlite3.connect(path) as db:
            finished = db.execute("SELECT state, attempts FROM outbox WHERE id = ?", (queued.id,)).fetchall()
        assert (total, rows[0].status, finished) == (1, 0, [("failed", 1)])
        assert rows[0].message.startswith("the URL cannot be used: ")
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
