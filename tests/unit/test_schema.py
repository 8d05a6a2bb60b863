"""The admin API's action JSON: parsing, normalising, naming each invalid field, and the output shape."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from agent.store.model import Action, Auth, Body, KeyValue
from agent.webhooks.schema import action_from_json, action_to_json, validation_details


def problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        action_from_json(data)
    return {detail["field"]: detail["message"] for detail in validation_details(caught.value)}


def minimal(**changes: Any) -> dict[str, Any]:
    return {"name": "Hook", "method": "POST", "url": "https://example.com/hook"} | changes


class TestActionFromJson:
    def test_minimal_defaults(self) -> None:
        """Given name, method and url only, the action has no query, headers, body or auth and no timeout."""
        assert action_from_json(minimal()) == Action(name="Hook", method="POST", url="https://example.com/hook")

    def test_dashboard_url_query_moved(self) -> None:
        """Given the dashboard URL typed with its query, the query moves (decoded) before the explicit entries."""
        action = action_from_json(
            {
                "name": "  Calls Overview ",
                "method": "get",
                "url": "http://{{IP}}/index.php?apikey={{API_Key}}&action=pbxware.dashboard.calls&n=a%20b+c#x",
                "query": [{"key": "server", "value": "{{Srv/Tenant-ID}}"}, {"key": "", "value": ""}],
            }
        )
        assert action.name == "Calls Overview"
        assert action.method == "GET"
        assert action.url == "http://{{IP}}/index.php"
        assert action.query == (
            KeyValue("apikey", "{{API_Key}}"),
            KeyValue("action", "pbxware.dashboard.calls"),
            KeyValue("n", "a b c"),
            KeyValue("server", "{{Srv/Tenant-ID}}"),
        )

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            ({"type": "none"}, Body()),
            (
                {"type": "raw", "content_type": "application/json", "raw": "{}"},
                Body("raw", raw="{}", content_type="application/json"),
            ),
            ({"type": "raw", "raw": "x"}, Body("raw", raw="x", content_type="text/plain")),
            ({"type": "form-data", "fields": [{"key": "a", "value": "1"}]}, Body("form-data", (KeyValue("a", "1"),))),
            ({"type": "x-www-form-urlencoded", "fields": []}, Body("x-www-form-urlencoded")),
        ],
    )
    def test_bodies(self, body: dict[str, Any], expected: Body) -> None:
        """Given each body type, the core body carries its fields."""
        assert action_from_json(minimal(body=body)).body == expected

    @pytest.mark.parametrize(
        ("auth", "expected"),
        [
            ({"type": "none"}, Auth()),
            ({"type": "bearer", "token": "{{t}}"}, Auth("bearer", token="{{t}}")),
            ({"type": "basic", "username": "u", "password": "p"}, Auth("basic", username="u", password="p")),
            ({"type": "api_key", "key": "X-Key", "value": "v"}, Auth("api_key", key="X-Key", value="v")),
            (
                {"type": "api_key", "key": "k", "value": "v", "in": "query"},
                Auth("api_key", key="k", value="v", place="query"),
            ),
        ],
    )
    def test_auths(self, auth: dict[str, Any], expected: Auth) -> None:
        """Given each auth type, the core auth carries its fields (api_key placed in the header by default)."""
        assert action_from_json(minimal(auth=auth)).auth == expected

    @pytest.mark.parametrize(
        "url",
        [
            "http://{{IP}}/x",
            "HTTPS://user:pw@h.example:8443",
            "http://{{IP}}:{{port}}/",
            "{{baseUrl}}/users",
            "http://[::1]:8080/x",
            "http://{{Srv/Tenant-ID}}.pbx.example/x",
        ],
    )
    def test_urls_accepted(self, url: str) -> None:
        """Given an http(s) URL with a host, a template host or a template base, it is accepted."""
        assert action_from_json(minimal(url=url)).url == url

    def test_read_only_fields_ignored(self) -> None:
        """Given the output shape sent back (id, active_events, undefined_parameters), those are ignored."""
        data = minimal(id=9, active_events=2, undefined_parameters=["IP"], timeout_s=2.5)
        assert action_from_json(data) == Action(
            name="Hook", method="POST", url="https://example.com/hook", timeout_s=2.5
        )


class TestValidation:
    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"name": "   "}, "name"),
            ({"name": "x" * 101}, "name"),
            ({"name": "a\nb"}, "name"),
            ({"name": "a\x85b"}, "name"),  # NEL, a C1 control
            ({"name": "a\u2028b"}, "name"),  # a line separator
            ({"method": "HEAD"}, "method"),
            ({"method": 3}, "method"),
            ({"url": "ftp://example.com/"}, "url"),
            ({"url": "example.com/x"}, "url"),
            ({"url": "http:///path"}, "url"),
            ({"url": "http://exa mple.com/"}, "url"),
            ({"url": "http://h/\r\nx"}, "url"),
            ({"url": "http://h/\u2029x"}, "url"),
            ({"query": [{"key": "", "value": "orphan"}]}, "query.0.key"),
            ({"query": "a=b"}, "query"),
            ({"headers": [{"key": "Bad Name", "value": "v"}]}, "headers.0.key"),
            (
                {"headers": [{"key": "X-Ok", "value": "v"}, {"key": "X", "value": "a\r\nInjected: 1"}]},
                "headers.1.value",
            ),
            ({"body": {"type": "raw", "raw": 5}}, "body.raw"),
            ({"body": {"type": "raw", "raw": "x", "content_type": "text/\nplain"}}, "body.content_type"),
            ({"body": {"type": "raw", "raw": "x", "content_type": "text/\x9bplain"}}, "body.content_type"),
            ({"body": {"type": "form-data", "fields": [{"key": "", "value": "v"}]}}, "body.fields.0.key"),
            ({"body": {"type": "binary"}}, "body"),
            ({"body": {}}, "body"),
            ({"auth": {"type": "bearer"}}, "auth.token"),
            ({"auth": {"type": "basic", "password": "p"}}, "auth.username"),
            ({"auth": {"type": "api_key", "key": "k", "in": "cookie"}}, "auth.in"),
            ({"auth": {"type": "api_key", "key": "  "}}, "auth.key"),
            ({"auth": {"type": "digest"}}, "auth"),
            ({"timeout_s": 0}, "timeout_s"),
            ({"timeout_s": 301}, "timeout_s"),
        ],
    )
    def test_names_the_field(self, changes: dict[str, Any], field: str) -> None:
        """Given one invalid field, the validation details name exactly that field."""
        assert list(problems(minimal(**changes))) == [field]

    def test_missing_required(self) -> None:
        """Given an empty object, name, method and url are each reported missing."""
        assert set(problems({})) == {"name", "method", "url"}

    def test_not_an_object(self) -> None:
        """Given a JSON list, the error has an empty field path."""
        assert list(problems([])) == [""]  # type: ignore[arg-type]

    def test_messages_are_plain(self) -> None:
        """Our own messages come without pydantic's 'Value error, ' prefix."""
        assert problems(minimal(method="head"))["method"] == "the method must be one of GET, POST, PUT, PATCH, DELETE"


class TestActionToJson:
    def test_shape(self) -> None:
        """Given a full action, the JSON has exactly the docs/admin-api.md keys and nested shapes (the api key
        value masked)."""
        action = Action(
            id=4,
            name="n",
            description="d",
            method="PUT",
            url="http://h/",
            query=(KeyValue("q", "1"),),
            headers=(KeyValue("H", "v"),),
            body=Body("x-www-form-urlencoded", (KeyValue("f", "2"),)),
            auth=Auth("api_key", key="k", value="v", place="query"),
            timeout_s=7,
        )
        assert action_to_json(action, active_events=2, undefined=["IP"]) == {
            "id": 4,
            "name": "n",
            "description": "d",
            "method": "PUT",
            "url": "http://h/",
            "query": [{"key": "q", "value": "1"}],
            "headers": [{"key": "H", "value": "v"}],
            "body": {"type": "x-www-form-urlencoded", "fields": [{"key": "f", "value": "2"}]},
            "auth": {"type": "api_key", "key": "k", "value": "********", "in": "query"},
            "timeout_s": 7,
            "active_events": 2,
            "undefined_parameters": ["IP"],
        }

    @pytest.mark.parametrize(
        "action",
        [
            Action(name="a", method="GET", url="http://{{IP}}/"),
            Action(
                name="b",
                method="POST",
                url="https://h/",
                body=Body("raw", raw='{"x": 1}', content_type="application/json"),
                auth=Auth("basic", username="u", password="p"),
            ),
            Action(
                name="c",
                method="DELETE",
                url="https://h/",
                body=Body("form-data", (KeyValue("k", "v"),)),
                auth=Auth("bearer", token="t"),
                headers=(KeyValue("{{h}}", "x"),),
                timeout_s=1.5,
            ),
        ],
    )
    def test_round_trip(self, action: Action) -> None:
        """Given an action, its unmasked JSON parses back to the same action (ids aside)."""
        assert action_from_json(action_to_json(action, active_events=0, undefined=[], mask=False)) == action
