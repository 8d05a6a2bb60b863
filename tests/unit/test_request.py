"""Request building: URL, query, headers, every body type with every auth type, hostile values, redaction."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from agent.store.model import Action, Auth, Body, KeyValue, RenderedRequest
from agent.webhooks.redaction import mask_values, redact_request
from agent.webhooks.request import MASK, auth_secrets, render, split_url_query
from tests.support.actions import DASHBOARD

VALUES = {"IP": "10.1.2.3", "API_Key": "s3cr3t", "calling_name": "Ann", "extension": "201", "user": "admin"}
HOSTILE = 'Jo "The Boss" O\'Brien & Co\r\nX-Injected: yes\\ é😀\x00\x07'

BODIES: dict[str, tuple[Body, bytes, str | None]] = {
    "none": (Body(), b"", None),
    "raw-text": (
        Body("raw", raw="ext {{extension}} by {{calling_name}}", content_type="text/plain"),
        b"ext 201 by Ann",
        "text/plain",
    ),
    "raw-json": (
        Body("raw", raw='{"ext": "{{extension}}"}', content_type="application/json"),
        b'{"ext": "201"}',
        "application/json",
    ),
    "raw-default-type": (Body("raw", raw="{{extension}}"), b"201", "text/plain"),
    "urlencoded": (
        Body("x-www-form-urlencoded", fields=(KeyValue("ext", "{{extension}}"), KeyValue("a b", "c&d"))),
        b"ext=201&a+b=c%26d",
        "application/x-www-form-urlencoded",
    ),
}
AUTHS: dict[str, tuple[Auth, tuple[tuple[str, str], ...], str]] = {
    "none": (Auth(), (), ""),
    "basic": (
        Auth("basic", username="{{user}}", password="p:w"),
        (("Authorization", "Basic " + base64.b64encode(b"admin:p:w").decode()),),
        "",
    ),
    "bearer": (Auth("bearer", token="{{API_Key}}"), (("Authorization", "Bearer s3cr3t"),), ""),
    "api-header": (Auth("api_key", key="X-Api-Key", value="{{API_Key}}"), (("X-Api-Key", "s3cr3t"),), ""),
    "api-query": (Auth("api_key", key="apikey", value="{{API_Key}}", place="query"), (), "&apikey=s3cr3t"),
}


def action(**changes: object) -> Action:
    base: dict[str, object] = {"name": "a", "method": "POST", "url": "http://{{IP}}/hook"}
    return Action(**(base | changes))  # type: ignore[arg-type]


def header(request: RenderedRequest, name: str) -> list[str]:
    return [value for key, value in request.headers if key.lower() == name.lower()]


class TestBodyAndAuth:
    @pytest.mark.parametrize("body_kind", list(BODIES))
    @pytest.mark.parametrize("auth_kind", list(AUTHS))
    def test_matrix(self, body_kind: str, auth_kind: str) -> None:
        """Given each body type with each auth type, the whole request is exactly as specified."""
        body, data, content_type = BODIES[body_kind]
        auth, auth_headers, auth_query = AUTHS[auth_kind]
        headers = (("X-Ext", "201"), *auth_headers, *((("Content-Type", content_type),) if content_type else ()))
        expected = RenderedRequest("POST", "http://10.1.2.3/hook?e=201" + auth_query, headers, data, 3)
        request = render(
            action(
                query=(KeyValue("e", "{{extension}}"),),
                headers=(KeyValue("X-Ext", "{{extension}}"),),
                body=body,
                auth=auth,
                timeout_s=3,
            ),
            VALUES,
        )
        assert request == expected

    @pytest.mark.parametrize("auth_kind", list(AUTHS))
    def test_form_data(self, auth_kind: str) -> None:
        """Given form-data with each auth, the body is multipart text parts with the boundary of its Content-Type."""
        auth, auth_headers, auth_query = AUTHS[auth_kind]
        fields = (KeyValue("ext", "{{extension}}"), KeyValue('we"ird\r\n', "é"))
        request = render(action(body=Body("form-data", fields=fields), auth=auth), VALUES)
        content_type = header(request, "content-type")
        assert content_type[0].startswith("multipart/form-data; boundary=")
        boundary = content_type[0].split("boundary=", 1)[1]
        assert (
            request.body
            == (
                f'--{boundary}\r\nContent-Disposition: form-data; name="ext"\r\n\r\n201\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="we%22ird%0D%0A"\r\n\r\né\r\n'
                f"--{boundary}--\r\n"
            ).encode()
        )
        assert request.headers[:-1] == auth_headers
        assert request.url == "http://10.1.2.3/hook" + auth_query.replace("&", "?")

    def test_form_data_boundary_is_deterministic(self) -> None:
        """Given the same values twice the bytes are identical; different values give another boundary."""
        form = action(body=Body("form-data", fields=(KeyValue("n", "{{calling_name}}"),)))
        first, again = render(form, VALUES), render(form, dict(VALUES))
        other = render(form, VALUES | {"calling_name": "Bob"})
        assert first == again
        assert header(first, "content-type") != header(other, "content-type")


class TestHostileValues:
    def test_json_body_stays_valid(self) -> None:
        """Given a calling name with quotes, backslash, CR/LF, controls and emoji, the JSON body parses back to it."""
        raw = '{"name": "{{calling_name}}", "ext": "{{extension}}"}'
        request = render(
            action(body=Body("raw", raw=raw, content_type="application/vnd.x+json; charset=utf-8")),
            VALUES | {"calling_name": HOSTILE},
        )
        assert json.loads(request.body) == {"name": HOSTILE, "ext": "201"}

    def test_query_string_round_trips(self) -> None:
        """Given the hostile name in a query value, the query string decodes back to exactly one entry with it."""
        request = render(
            action(query=(KeyValue("name", "{{calling_name}}"), KeyValue("x", "1"))), VALUES | {"calling_name": HOSTILE}
        )
        assert parse_qsl(urlsplit(request.url).query, keep_blank_values=True) == [("name", HOSTILE), ("x", "1")]
        assert not set(request.url) & {"\r", "\n", " "}

    def test_no_injected_header(self) -> None:
        """Given the hostile name in a header name and value, no CR/LF or control char remains, no header added."""
        request = render(
            action(headers=(KeyValue("X-Name", "{{calling_name}}"), KeyValue("X-{{calling_name}}", "v"))),
            VALUES | {"calling_name": HOSTILE},
        )
        assert len(request.headers) == 2
        assert request.headers[0] == ("X-Name", 'Jo "The Boss" O\'Brien & Co X-Injected: yes\\ é😀')
        assert request.headers[1] == ("X-JoTheBossO'Brien&CoX-Injectedyes", "v")

    def test_urlencoded_round_trips(self) -> None:
        """Given the hostile name in a form field, the urlencoded body decodes back to it."""
        request = render(
            action(body=Body("x-www-form-urlencoded", fields=(KeyValue("n", "{{calling_name}}"),))),
            VALUES | {"calling_name": HOSTILE},
        )
        assert parse_qsl(request.body.decode("ascii"), keep_blank_values=True) == [("n", HOSTILE)]

    def test_lone_surrogate(self) -> None:
        """Given a value with a lone surrogate, rendering still yields UTF-8 with a replacement character."""
        request = render(action(body=Body("raw", raw="{{n}}")), {"n": "a\udcff"})
        assert request.body.decode() == "a\ufffd"


class TestUrl:
    def test_dashboard(self) -> None:
        """Given the PBXware dashboard action, the URL is the reference product's request."""
        request = render(DASHBOARD, VALUES | {"Srv/Tenant-ID": "12"})
        assert request.url == "http://10.1.2.3/index.php?apikey=s3cr3t&action=pbxware.dashboard.calls&server=12"
        assert request.body == b""
        assert request.headers == ()

    def test_path_and_host(self) -> None:
        """Host values go in as they are (port kept); path values keep `/` and percent-encode the rest."""
        request = render(
            action(url="https://{{IP}}/a b/{{p}}/{{q}}#frag"), {"IP": "h.example:8443", "p": "v1/calls", "q": "x?y#z%é"}
        )
        assert request.url == "https://h.example:8443/a%20b/v1/calls/x%3Fy%23z%25%C3%A9"

    def test_host_junk_removed(self) -> None:
        """A host value with spaces or CR/LF loses them."""
        assert render(action(url="http://{{IP}}/"), {"IP": " 10.0.0.1\r\n"}).url == "http://10.0.0.1/"

    def test_tag_with_slash_in_host(self) -> None:
        """A tag containing `/` in the host part is not mistaken for the start of the path."""
        assert render(action(url="http://{{Srv/Tenant-ID}}.pbx/x"), {"Srv/Tenant-ID": "t1"}).url == "http://t1.pbx/x"

    def test_base_url_parameter(self) -> None:
        """Given a URL that starts with a tag, that tag supplies scheme, host and base path."""
        request = render(action(url="{{baseUrl}}/users"), {"baseUrl": "https://api.example.com/v2"})
        assert request.url == "https://api.example.com/v2/users"

    def test_query_in_url_flags_and_order(self) -> None:
        """A query left in the URL comes first, re-encoded; empty-as-written values are flags; empty after
        substitution gives `key=`; the api_key query parameter comes last."""
        request = render(
            action(
                url="http://h/p?a=x+y&debug&c=%2F",
                query=(KeyValue("flag", ""), KeyValue("u", "{{undefined}}")),
                auth=Auth("api_key", key="k", value="v", place="query"),
            ),
            {},
        )
        assert request.url == "http://h/p?a=x%20y&debug&c=%2F&flag&u=&k=v"

    def test_split_url_query(self) -> None:
        """split_url_query decodes the query into entries and drops the fragment."""
        base, entries = split_url_query("http://{{IP}}/i.php?apikey={{API_Key}}&n=a%26b+c&f#top")
        assert base == "http://{{IP}}/i.php"
        assert entries == (KeyValue("apikey", "{{API_Key}}"), KeyValue("n", "a&b c"), KeyValue("f", ""))


class TestHeaders:
    def test_explicit_content_type_wins_for_raw(self) -> None:
        """Given a raw JSON body and an explicit Content-Type header, the header is kept and no other is added."""
        request = render(
            action(
                headers=(KeyValue("content-type", "text/x-custom"),),
                body=Body("raw", raw='"{{n}}"', content_type="application/json"),
            ),
            {"n": 'a"'},
        )
        assert request.headers == (("content-type", "text/x-custom"),)
        assert request.body == b'"a\\""'

    def test_form_data_content_type_replaces_explicit(self) -> None:
        """Given form-data and an explicit Content-Type, the multipart type with its boundary replaces it."""
        request = render(
            action(
                headers=(KeyValue("Content-Type", "multipart/form-data"),),
                body=Body("form-data", fields=(KeyValue("a", "1"),)),
            ),
            {},
        )
        assert len(request.headers) == 1
        assert "boundary=" in request.headers[0][1]

    def test_auth_replaces_same_named_header(self) -> None:
        """Given an Authorization header and bearer auth, only the bearer header is sent."""
        request = render(
            action(
                headers=(KeyValue("Authorization", "Basic old"), KeyValue("A", "b")), auth=Auth("bearer", token="t")
            ),
            {},
        )
        assert request.headers == (("A", "b"), ("Authorization", "Bearer t"))

    def test_empty_name_dropped(self) -> None:
        """A header whose name is empty after substitution is dropped."""
        assert render(action(headers=(KeyValue("{{none}}", "v"),)), {}).headers == ()

    def test_basic_auth_utf8(self) -> None:
        """Basic auth encodes user:password as UTF-8 before base64."""
        request = render(action(auth=Auth("basic", username="jösé", password="{{p}}")), {"p": "ü"})
        assert request.headers == (("Authorization", "Basic " + base64.b64encode("jösé:ü".encode()).decode()),)


class TestRedact:
    def test_masks_every_form(self) -> None:
        """Given a secret used in query, JSON body, header and basic auth, none of its forms remain."""
        secret = 'p&ss "w"'
        request = render(
            action(
                query=(KeyValue("k", "{{pw}}"),),
                headers=(KeyValue("X-K", "{{pw}}"),),
                body=Body("raw", raw='{"k": "{{pw}}"}', content_type="application/json"),
                auth=Auth("basic", username="u", password="{{pw}}"),
            ),
            {"pw": secret},
        )
        shown = redact_request(request, {secret})
        assert shown.url == f"http:///hook?k={MASK}"
        assert shown.headers == (("X-K", MASK), ("Authorization", f"Basic {MASK}"),
                                 ("Content-Type", "application/json"))
        assert shown.body == b'{"k": "********"}'

    def test_no_secrets_is_identity(self) -> None:
        """Given no (or only empty) secrets, the request is unchanged."""
        request = render(action(), VALUES)
        assert redact_request(request, {""}) is request

    def test_mask_values_and_auth_secrets(self) -> None:
        """mask_values hides secret tags' values; auth_secrets lists the substituted credential."""
        assert mask_values({"a": "1", "b": "2", "c": ""}, {"b", "c"}) == {"a": "1", "b": MASK, "c": ""}
        assert auth_secrets(action(auth=Auth("bearer", token="{{API_Key}}")), VALUES) == {"s3cr3t"}
        assert auth_secrets(action(auth=Auth("api_key", key="k", value="{{none}}")), VALUES) == set()
