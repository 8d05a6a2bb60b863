"""Postman import properties: any JSON document previews or raises PostmanError, nothing else."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.webhooks.postman import load_collection, preview
from agent.webhooks.request import render

SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
KEYS = [
    "name",
    "item",
    "request",
    "url",
    "raw",
    "query",
    "key",
    "value",
    "disabled",
    "enabled",
    "header",
    "body",
    "mode",
    "auth",
    "type",
    "variable",
    "host",
    "path",
    "protocol",
    "port",
    "formdata",
    "urlencoded",
    "graphql",
    "method",
    "event",
    "script",
    "exec",
    "options",
    "file",
    "src",
    "content",
    "bearer",
    "basic",
    "apikey",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=12),
    st.sampled_from(
        [
            "GET",
            "post",
            "raw",
            "formdata",
            "urlencoded",
            "graphql",
            "file",
            "noauth",
            "basic",
            "bearer",
            "apikey",
            "query",
            "http://h/{{x}}",
            ":id",
            "{{$guid}}",
        ]
    ),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
    max_leaves=20,
)


requests = st.fixed_dictionaries(
    {"method": scalars, "url": documents, "header": documents, "body": documents, "auth": documents}
)
items = st.one_of(documents, st.fixed_dictionaries({"name": scalars, "request": st.one_of(documents, requests)}))
folders = st.fixed_dictionaries(
    {"name": scalars, "auth": documents, "variable": documents, "item": st.lists(items, max_size=3)}
)


class TestPreviewProperties:
    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.one_of(items, folders), max_size=4), documents)
    def test_any_items(self, items: list[Any], auth: Any) -> None:
        """Given arbitrary items and auth, preview returns a report whose actions all render."""
        found = preview({"info": {"name": "f", "schema": SCHEMA}, "item": items, "auth": auth}, ())
        for item in found.items:
            assert item.status in {"importable", "changed", "skipped"}
            assert (item.action is None) == (item.status == "skipped")
            if item.action is not None:
                render(item.action, {"x": "1"})

    @settings(max_examples=100, deadline=None)
    @given(documents, documents, documents, st.lists(items, max_size=3))
    def test_any_collection_level(self, variables: Any, events: Any, behavior: Any, items: list[Any]) -> None:
        """Given arbitrary collection variables, scripts and settings, preview returns and variables are text."""
        collection = {
            "info": {"name": "f", "schema": SCHEMA},
            "item": items,
            "variable": variables,
            "event": events,
            "protocolProfileBehavior": behavior,
        }
        found = preview(load_collection(json.dumps(collection).encode()), ())
        assert all(isinstance(v.key, str) and isinstance(v.value, str) for v in found.variables)
