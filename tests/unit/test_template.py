"""Templating: which tags an action uses, which are undefined, how many actions use each tag."""

from __future__ import annotations

import pytest

from agent.store.model import Action, Auth, Body, KeyValue
from agent.webhooks.template import is_valid_tag, substitute, tags_in, tags_used, undefined_tags, usage_counts
from tests.support.actions import DASHBOARD


class TestTagsIn:
    @pytest.mark.parametrize(
        ("text", "tags"),
        [
            ("{{a}}", ["a"]),
            ("x{{ a }}y{{\tb.c\t}}", ["a", "b.c"]),
            ("{{Srv/Tenant-ID}}", ["Srv/Tenant-ID"]),
            ("{{$guid}} {{a b}} {{}} {a} {{ {{x}} }}", ["x"]),
            ("{{a}}{{a}}", ["a", "a"]),
        ],
    )
    def test_tags(self, text: str, tags: list[str]) -> None:
        """Given a text, tags_in yields valid tags in order; `$`, inner spaces or empty braces are not tags."""
        assert list(tags_in(text)) == tags

    def test_valid_tag(self) -> None:
        """Letters, digits, `_ - / .` make a valid tag; `$` and spaces do not."""
        assert is_valid_tag("Srv/Tenant-ID.v_2")
        assert not is_valid_tag("$guid")
        assert not is_valid_tag("a b")
        assert not is_valid_tag("")


class TestSubstitute:
    def test_undefined_become_empty(self) -> None:
        """Given one defined and one undefined tag, the undefined one becomes empty."""
        assert substitute("a={{a}}&b={{ b }}", {"a": "1"}) == "a=1&b="

    def test_escape_applies_to_values_only(self) -> None:
        """Given an escape function, it applies to substituted values, never to the literal text."""
        assert substitute("<{{a}}>", {"a": "x"}, str.upper) == "<X>"

    def test_values_are_not_rescanned(self) -> None:
        """A value that looks like a tag is inserted literally, not expanded again."""
        assert substitute("{{a}}", {"a": "{{b}}", "b": "no"}) == "{{b}}"


class TestTagsUsed:
    def test_every_place(self) -> None:
        """Given tags in url, query, headers, fields, raw body, content type and auth, all are found."""
        action = Action(
            name="n",
            method="POST",
            url="https://{{host}}/{{path}}",
            query=(KeyValue("{{qk}}", "{{qv}}"),),
            headers=(KeyValue("X-{{hk}}", "{{hv}}"),),
            body=Body("raw", raw='{"a": "{{raw}}"}', content_type="{{ct}}"),
            auth=Auth("basic", username="{{user}}", password="{{pass}}"),
        )
        assert tags_used(action) == {"host", "path", "qk", "qv", "hk", "hv", "raw", "ct", "user", "pass"}

    @pytest.mark.parametrize(
        ("auth", "tags"),
        [
            (Auth("bearer", token="{{t}}"), {"t"}),
            (Auth("api_key", key="{{k}}", value="{{v}}", place="query"), {"k", "v"}),
            (Auth("none", token="{{ignored}}"), set()),
        ],
    )
    def test_auth(self, auth: Auth, tags: set[str]) -> None:
        """Given an auth type, only the fields of that type are scanned."""
        assert tags_used(Action(name="n", method="GET", url="http://h/", auth=auth)) == tags

    def test_form_fields(self) -> None:
        """Given form fields, their keys and values are scanned; raw text of a non-raw body is not."""
        body = Body("form-data", fields=(KeyValue("k", "{{f}}"),), raw="{{stale}}")
        assert tags_used(Action(name="n", method="POST", url="http://h/", body=body)) == {"f"}


class TestUndefinedTags:
    def test_first_appearance_order(self) -> None:
        """Given the dashboard action and no known tags, IP, API_Key, Srv/Tenant-ID are listed in that order."""
        assert undefined_tags(DASHBOARD, set()) == ["IP", "API_Key", "Srv/Tenant-ID"]

    def test_known_removed(self) -> None:
        """Given IP is defined, only the other two remain, each listed once."""
        twice = Action(name="n", method="GET", url="http://{{IP}}/{{API_Key}}", query=DASHBOARD.query)
        assert undefined_tags(twice, {"IP"}) == ["API_Key", "Srv/Tenant-ID"]


class TestUsageCounts:
    def test_counts_actions_not_occurrences(self) -> None:
        """Given two actions using IP (one twice) and one using neither, IP counts 2, API_Key 1, unused 0."""
        other = Action(name="o", method="GET", url="http://{{IP}}/{{IP}}")
        plain = Action(name="p", method="GET", url="http://example.com/")
        counts = usage_counts([DASHBOARD, other, plain], ["IP", "API_Key", "unused"])
        assert counts == {"IP": 2, "API_Key": 1, "unused": 0}
