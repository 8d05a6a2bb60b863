"""Fuzzing every route with hypothesis: random paths, query parameters and bodies never give a 5xx or break the
error shape. Save & Test is replaced by a render-only stand-in so no fuzzed URL is ever contacted."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.admin_api.app import all_routes
from agent.admin_api.deps import TestResult
from agent.store.model import Action
from agent.webhooks.request import render
from tests.support.api import Api, action_json, running_api

pytestmark = pytest.mark.heavy  # long property runs: left out of `make quick`

ROUTES = [(route.method, route.path) for route in all_routes()]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def render_only(action: Action, values: Mapping[str, str]) -> TestResult:
    request = render(action, values)
    return TestResult(0, f"not sent ({len(request.body)} bytes)", 0)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path, send_test=render_only) as running:
        for name in ("a", "b"):
            await running.call("POST", "/api/v1/actions", json=action_json(name))
        await running.call("POST", "/api/v1/parameters", json={"tag": "IP", "value": "127.0.0.1"})
        yield running


_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
_segment = st.one_of(
    st.sampled_from(["1", "2", "0", "-1", "999999999999999999999", "call_answered", "IP", "call_id", "..", "%2F"]),
    st.text(min_size=1, max_size=12).map(lambda text: quote(text, safe="")),
)
_action_like = st.fixed_dictionaries(
    {}, optional=dict.fromkeys(("name", "method", "url", "query", "headers", "body", "auth", "timeout_s",
                                "description", "active", "actions", "actions_enabled", "tag", "value", "secret",
                                "values", "collection", "select", "all", "info", "item"), _json),
)
_body = st.one_of(
    st.none(),
    _json.map(lambda doc: json.dumps(doc).encode()),
    _action_like.map(lambda doc: json.dumps(doc).encode()),
    st.binary(max_size=64),
)
_query = st.dictionaries(st.sampled_from(["page", "per_page", "search", "status", "failed", "action", "event", "x"]),
                         st.text(max_size=8), max_size=4)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes | None]:
    method, template = draw(st.sampled_from(ROUTES))
    if draw(st.booleans()):
        method = draw(st.sampled_from(METHODS))
    path = re.sub(r"\{[^}]+\}", lambda _: draw(_segment), template)
    if draw(st.integers(0, 9)) == 0:
        path = "/api/v1/" + "/".join(draw(st.lists(_segment, max_size=3)))
    return method, path, draw(_query), draw(_body)


def _shape_ok(status: int, body: Any) -> bool:
    if status < 400:
        return True
    return (isinstance(body, dict) and set(body) == {"error", "details"} and isinstance(body["error"], str)
            and isinstance(body["details"], list))


class TestFuzz:
    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(request=requests())
    async def test_no_server_errors(self, api: Api, request: tuple[str, str, dict[str, str], bytes | None]) -> None:
        """Given any method, path, query and body with a valid token, then no 5xx and errors keep their shape."""
        method, path, query, body = request
        status, answer = await api.call(method, path, params=query, data=body)
        assert status < 500, (method, path, query, body, answer)
        assert _shape_ok(status, answer), (method, path, status, answer)


_SCHEMAS = st.sampled_from([
    "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
    "https://schema.getpostman.com/json/collection/v2.0.0/collection.json",
])
_pairs = st.lists(st.fixed_dictionaries({"key": _json, "value": _json}, optional={"disabled": _json}), max_size=3)
_url = st.one_of(
    st.sampled_from(["http://{{IP}}/a?b={{c}}", "https://127.0.0.1:8/x#f", "{{baseUrl}}/p", "", "ftp://x"]),
    st.text(max_size=20),
    st.fixed_dictionaries({}, optional={"raw": st.text(max_size=20), "host": _json, "path": _json,
                                        "query": _pairs, "protocol": _json, "port": _json}),
)
_request = st.fixed_dictionaries({}, optional={
    "method": st.sampled_from(["GET", "post", "PURGE", ""]) | _json, "url": _url | _json,
    "header": _pairs | st.text(max_size=20), "auth": _json,
    "body": st.fixed_dictionaries({}, optional={
        "mode": st.sampled_from(["raw", "urlencoded", "formdata", "file", "graphql"]) | _json,
        "raw": _json, "urlencoded": _pairs, "formdata": _pairs, "graphql": _json, "options": _json}),
})
_items = st.recursive(
    st.fixed_dictionaries({"name": _json, "request": _request | _url}),
    lambda inner: st.fixed_dictionaries({"name": _json, "item": st.lists(inner, max_size=3)}, optional={
        "auth": _json, "variable": _pairs}),
    max_leaves=6,
)
_collections = st.fixed_dictionaries(
    {"info": st.fixed_dictionaries({"name": st.text(max_size=10), "schema": _SCHEMAS}),
     "item": st.lists(_items, max_size=4)},
    optional={"variable": _pairs, "auth": _json, "event": _json},
)


class TestPostmanFuzz:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(collection=_collections)
    async def test_preview_and_import(self, api: Api, collection: dict[str, Any]) -> None:
        """Given any collection-shaped document, when previewed and imported, then no 5xx and a clean result."""
        status, preview = await api.call("POST", "/api/v1/postman/preview", json=collection)
        assert status in {200, 422}, preview
        assert _shape_ok(status, preview)
        status, body = await api.call("POST", "/api/v1/postman/import", json={"collection": collection, "all": True})
        assert status in {201, 409, 422}, body
        assert _shape_ok(status, body)
        listed_status, _ = await api.call("GET", "/api/v1/actions", params={"per_page": "500"})
        assert listed_status == 200
