"""Every method x body type x auth type arrives at a real receiver exactly as the action specifies."""

from __future__ import annotations

import base64
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.store.model import METHODS, Action, Auth, Body, KeyValue, Method
from agent.webhooks.request import render
from tests.support.delivery import Engine, engine
from tests.support.receiver import Receiver, receiver

VALUES = {"extension": "201", "caller_id": "+385 1", "calling_name": 'Ann "A"', "call_id": "1700.5",
          "KEY": "s3cr&t", "USER": "ops", "PASS": "p@ss:w", "TOKEN": "tok.en"}

BODIES: dict[str, Body] = {
    "none": Body(),
    "raw": Body(type="raw", raw='{"name": "{{calling_name}}"}', content_type="application/json"),
    "x-www-form-urlencoded": Body(type="x-www-form-urlencoded",
                                  fields=(KeyValue("name", "{{calling_name}}"), KeyValue("n", "{{caller_id}}"))),
    "form-data": Body(type="form-data",
                      fields=(KeyValue("name", "{{calling_name}}"), KeyValue("ext", "{{extension}}"))),
}
AUTHS: dict[str, Auth] = {
    "none": Auth(),
    "api_key-header": Auth(type="api_key", key="X-Api-Key", value="{{KEY}}", place="header"),
    "api_key-query": Auth(type="api_key", key="api_key", value="{{KEY}}", place="query"),
    "basic": Auth(type="basic", username="{{USER}}", password="{{PASS}}"),
    "bearer": Auth(type="bearer", token="{{TOKEN}}"),
}
EXPECTED_BODY: dict[str, bytes] = {
    "none": b"",
    "raw": b'{"name": "Ann \\"A\\""}',
    "x-www-form-urlencoded": b"name=Ann+%22A%22&n=%2B385+1",
}
EXPECTED_TYPE = {"none": None, "raw": "application/json", "x-www-form-urlencoded": "application/x-www-form-urlencoded"}
EXPECTED_AUTH = {"none": None, "api_key-header": None, "api_key-query": None,
                 "basic": "Basic " + base64.b64encode(b"ops:p@ss:w").decode(), "bearer": "Bearer tok.en"}


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Receiver, Engine]]:
    async with receiver() as rx, engine(tmp_path / "a.db") as e:
        yield rx, e


class TestMatrix:
    @pytest.mark.parametrize(("method", "body", "auth"), list(itertools.product(METHODS, BODIES, AUTHS)))
    async def test_arrives_as_specified(self, setup: tuple[Receiver, Engine], method: Method, body: str,
                                        auth: str) -> None:
        """Given an action of this method, body and auth, when sent, then the receiver sees exactly that request."""
        rx, e = setup
        action = Action(name="m", method=method, url=rx.url + "/hook/{{extension}}?from={{caller_id}}",
                        headers=(KeyValue("X-Call", "{{call_id}}"),), body=BODIES[body], auth=AUTHS[auth])
        result = await e.sender.send(render(action, VALUES))
        assert result.status == 200
        (got,) = rx.requests
        query = "from=%2B385%201" + ("&api_key=s3cr%26t" if auth == "api_key-query" else "")
        assert (got.method, got.path, got.query_string) == (method, "/hook/201", query)
        assert got.header("X-Call") == "1700.5"
        assert got.header("Authorization") == EXPECTED_AUTH[auth]
        assert got.header("X-Api-Key") == ("s3cr&t" if auth == "api_key-header" else None)
        if body == "form-data":
            self._check_multipart(got.header("Content-Type") or "", got.body)
        else:
            assert got.header("Content-Type") == EXPECTED_TYPE[body]
            assert got.body == EXPECTED_BODY[body]

    @staticmethod
    def _check_multipart(content_type: str, data: bytes) -> None:
        kind, _, boundary = content_type.partition("; boundary=")
        assert kind == "multipart/form-data"
        parts = data.split(b"--" + boundary.encode())
        assert parts[0] == b""
        assert parts[-1] == b"--\r\n"
        fields = [part.strip(b"\r\n").split(b"\r\n\r\n", 1) for part in parts[1:-1]]
        assert [(b"form-data" in head, b'name="' + name + b'"' in head, value) for (head, value), name in
                zip(fields, (b"name", b"ext"), strict=True)] == [(True, True, b'Ann "A"'), (True, True, b"201")]
