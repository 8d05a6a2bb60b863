"""Request building properties: render never raises, headers never carry CR/LF, JSON bodies stay JSON."""

from __future__ import annotations

import json

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from agent.store.model import Action, Auth, Body, KeyValue
from agent.webhooks.request import render

TAGS = ["a", "b", "Srv/Tenant-ID"]
texts = st.text(max_size=40)
templates = st.lists(st.one_of(texts, st.sampled_from([f"{{{{{tag}}}}}" for tag in TAGS])), max_size=4).map("".join)
pairs = st.lists(st.builds(KeyValue, templates, templates), max_size=3).map(tuple)
values = st.dictionaries(st.sampled_from(TAGS), texts)
bodies = st.one_of(
    st.builds(Body),
    st.builds(Body, st.just("raw"), raw=templates, content_type=templates),
    st.builds(Body, st.sampled_from(["form-data", "x-www-form-urlencoded"]), fields=pairs),
)
auths = st.one_of(
    st.builds(Auth),
    st.builds(Auth, st.just("basic"), username=templates, password=templates),
    st.builds(Auth, st.just("bearer"), token=templates),
    st.builds(Auth, st.just("api_key"), key=templates, value=templates, place=st.sampled_from(["header", "query"])),
)
actions = st.builds(
    Action,
    name=st.just("a"),
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    url=templates,
    query=pairs,
    headers=pairs,
    body=bodies,
    auth=auths,
)


class TestRenderProperties:
    @settings(max_examples=300, deadline=None)
    @given(actions, values)
    def test_never_raises_no_control_in_headers(self, action: Action, params: dict[str, str]) -> None:
        """Given any action and values, render returns and no header name or value holds CR, LF or NUL."""
        request = render(action, params)
        for name, value in request.headers:
            assert name
            assert not set(name + value) & {"\r", "\n", "\x00"}
        request.url.encode("utf-8")

    @settings(max_examples=300, deadline=None)
    @given(st.dictionaries(st.sampled_from(TAGS), st.text()), st.sampled_from(["application/json", "x/y+json"]))
    def test_json_body_stays_json(self, params: dict[str, str], content_type: str) -> None:
        """Given any values in string and key positions of a JSON template, the body parses to those values."""
        raw = '{"{{a}}": "x{{b}}y", "s": ["{{Srv/Tenant-ID}}", "{{a}}{{b}}"]}'
        request = render(Action("a", "POST", "http://h/", body=Body("raw", raw=raw, content_type=content_type)), params)
        a, b, srv = (_clean(params.get(tag, "")) for tag in TAGS)
        assume(a != "s")
        assert json.loads(request.body) == {a: f"x{b}y", "s": [srv, a + b]}


def _clean(text: str) -> str:
    return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
