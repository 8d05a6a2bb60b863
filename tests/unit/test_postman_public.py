"""Real public Postman collections (tests/fixtures/postman/public/, sources in SOURCES.md) imported end to end.

The expectations were written by reading each collection against the importer's rules (README, "Postman
import"): how many requests are importable, changed and skipped, and for chosen requests the method, URL, notes
and body. Each preview's time is printed; nothing asserts on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

from agent.store.model import Auth, KeyValue
from agent.webhooks.postman import Preview, PreviewItem, load_collection, preview
from agent.webhooks.postman_scope import Variable
from tests.support.paths import POSTMAN

PUBLIC = POSTMAN / "public"
SCRIPT = "the request has a test script; scripts are not run"
NO_SCHEME = "the URL has no scheme; http:// assumed"
MAX_REDIRECTS = "setting maxRedirects is ignored"
FOLLOW = "setting followRedirects = true is ignored: redirects are never followed"
UUID = "Postman dynamic variable {{$randomUUID}} is not supported; it is sent as written"
REDIRECT = ("query redirect_uri=http://localhost/myapp/ is sent as redirect_uri=http%3A%2F%2Flocalhost%2Fmyapp%2F "
            "(Postman sends these characters as written)")
URL_FORM = "the Content-Type header 'application/x-www-url-form-urlencoded' is kept as written for the URL-encoded form"
LOGIN = "https://login.microsoftonline.com"


@dataclass(frozen=True)
class Item:
    """What one request of a collection becomes: status, method, URL (as displayed), notes, body type."""

    status: str
    method: str
    url: str
    notes: tuple[str, ...] = ()
    body: str = "none"


@dataclass(frozen=True)
class Expected:
    version: str
    counts: tuple[int, int, int]  # importable, changed, skipped
    items: dict[str, Item] = field(default_factory=dict)
    variables: tuple[Variable, ...] = ()


EXPECTED = {
    "newman_sample.json": Expected("2.0", (2, 1, 0), {
        "A simple GET request": Item(
            "changed", "GET", "https://echo.getpostman.com/get?source=newman-sample-github-collection", (SCRIPT,)),
        "A simple POST request": Item("importable", "POST", "https://echo.getpostman.com/post", body="raw"),
    }),
    "adyen_testcards_v1.json": Expected("2.1", (1, 0, 0), {
        "General / /createTestCardRanges / Creates one or more test card ranges.": Item(
            "importable", "POST", "{{baseUrl}}/createTestCardRanges", body="raw"),
    }, (Variable("baseUrl", "https://pal-test.adyen.com/pal/services/TestCard/v1"),
        Variable("X-API-Key", "", secret=True))),
    "adyen_session_authentication_v1.json": Expected("2.1", (1, 0, 0), {
        "Session authentication / /sessions / Create a session token": Item(
            "importable", "POST", "{{baseUrl}}/sessions", body="raw"),
    }, (Variable("baseUrl", "https://test.adyen.com/authe/api/v1"), Variable("X-API-Key", "", secret=True))),
    "transformer_helpers_v20.json": Expected("2.0", (0, 3, 0), {
        "OAuth": Item("changed", "POST", "http://httpbin.org/post",
                      (SCRIPT, NO_SCHEME, "auth type 'oauth1' is not supported; imported without auth")),
        "basicAuth": Item("changed", "GET", "http://httpbin.org/get", (SCRIPT, NO_SCHEME)),
    }),
    "codegen_unsupported_methods.json": Expected("2.1", (0, 0, 7), {
        "UNLOCK request": Item("skipped", "UNLOCK", "https://postman-echo.com/request",
                               ("method UNLOCK is not supported",)),
        "COPY Request": Item("skipped", "COPY", "https://postman-echo.com", ("method COPY is not supported",)),
    }),
    "codegen_basic.json": Expected("2.1", (10, 4, 0), {
        "GET Request with disabled query": Item(
            "importable", "GET", "https://postman-echo.com/get?test=123&anotherone=232"),
        "POST graphql body(json) with raw": Item("importable", "POST", "https://postman-echo.com/post", body="raw"),
        "POST urlencoded data": Item(
            "importable", "POST", "https://postman-echo.com/post", body="x-www-form-urlencoded"),
        "DELETE Request": Item("changed", "DELETE", "https://mockbin.org/request", (SCRIPT,)),
    }),
    "msgraph_identity_oauth2.json": Expected("2.1", (5, 8, 0), {
        "OAuth 2.0 Authorization Code Flow / Token Request - Auth Code": Item(
            "changed", "POST", f"{LOGIN}/common/oauth2/v2.0/token", (URL_FORM,), "x-www-form-urlencoded"),
        "OpenID Connect Sign-In / Authorize Request - id_token": Item(
            "changed", "GET", f"{LOGIN}/common/oauth2/v2.0/authorize?client_id={{{{ClientID}}}}&response_type=id_token"
            "&redirect_uri=http://localhost/myapp/&scope=openid profile email&response_mode=form_post"
            "&state={{$randomUUID}}&nonce={{$randomUUID}}", (UUID, REDIRECT)),
        "OAuth 2.0 Client Credentials flow / Use Client Credential with shared secret": Item(
            "importable", "GET", f"{LOGIN}/{{tenant}}/oauth2/v2.0/token", body="x-www-form-urlencoded"),
        "OAuth 2.0 ROPC": Item(
            "importable", "POST", f"{LOGIN}/organizations/oauth2/v2.0/token", body="x-www-form-urlencoded"),
    }),
    "newman_protocol_profile_behavior.json": Expected("2.1", (0, 8, 0), {
        "followRedirects / followRedirects: false": Item(
            "changed", "GET", "http://localhost:4042/1", (SCRIPT, MAX_REDIRECTS, NO_SCHEME)),
        "followOriginalHttpMethod / followOriginalHttpMethod: true": Item(
            "changed", "DELETE", "http://localhost:4042/1",
            (SCRIPT, MAX_REDIRECTS, FOLLOW, "setting followOriginalHttpMethod is ignored", NO_SCHEME)),
        "removeRefererHeaderOnRedirect / removeRefererHeaderOnRedirect: false": Item(
            "changed", "GET", "http://localhost:4042/1", (SCRIPT, MAX_REDIRECTS, FOLLOW, NO_SCHEME)),
    }),
}


def run(name: str, capsys: pytest.CaptureFixture[str]) -> Preview:
    started = time.perf_counter()
    found = preview(load_collection((PUBLIC / name).read_bytes()), ())
    with capsys.disabled():
        print(f"\n  preview of {name}: {len(found.items)} requests in {(time.perf_counter() - started) * 1000:.1f} ms")
    return found


def by_name(found: Preview) -> dict[str, PreviewItem]:
    return {item.name: item for item in found.items}


class TestPublicCollections:
    @pytest.mark.parametrize("name", sorted(EXPECTED))
    def test_collection(self, name: str, capsys: pytest.CaptureFixture[str]) -> None:
        """Given a real public collection, when previewed, then the version, the counts of importable, changed and
        skipped requests, the chosen requests and the offered variables are as read from the file."""
        expected = EXPECTED[name]
        found = run(name, capsys)
        statuses = [item.status for item in found.items]
        assert found.version == expected.version
        assert tuple(statuses.count(s) for s in ("importable", "changed", "skipped")) == expected.counts
        items = by_name(found)
        for request, want in expected.items.items():
            got = items[request]
            body = got.action.body.type if got.action else "none"
            assert (got.status, got.method, got.url, got.notes, body) == (
                want.status, want.method, want.url, want.notes, want.body), request
        assert found.variables == expected.variables

    def test_every_public_file_is_expected(self) -> None:
        """Every collection under public/ has its expectations here, and SOURCES.md names each."""
        files = {path.name for path in PUBLIC.glob("*.json")}
        assert files == set(EXPECTED)
        sources = (PUBLIC / "SOURCES.md").read_text(encoding="utf-8")
        assert all(f"`{name}`" in sources for name in files)


class TestPublicDetails:
    def test_graphql_body(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The GraphQL request of the code-generator fixture becomes a JSON body with the query and variables."""
        action = by_name(run("codegen_basic.json", capsys))["POST graphql body(json) with raw"].action
        assert action is not None
        assert action.body.content_type == "application/json"
        assert action.body.raw == ('{"query": "{\\n    body{\\n        graphql\\n    }\\n}", '
                                   '"variables": {"variable_key": "variable_value"}}')

    def test_get_bodies(self, capsys: pytest.CaptureFixture[str]) -> None:
        """An empty form-data body on GET (v2.0 helpers) is no body and no note; a GET with disableBodyPruning
        (Microsoft client credentials) keeps its URL-encoded body and Content-Type header."""
        basic = by_name(run("transformer_helpers_v20.json", capsys))["basicAuth"].action
        assert basic is not None
        assert (basic.body.type, basic.auth) == ("none", Auth("basic", username="abhijit", password="kane"))
        credentials = by_name(run("msgraph_identity_oauth2.json", capsys))[
            "OAuth 2.0 Client Credentials flow / Use Client Credential with shared secret"].action
        assert credentials is not None
        assert [field.key for field in credentials.body.fields] == ["grant_type", "client_id", "scope", "client_secret"]
        assert credentials.headers == (KeyValue("Content-Type", "application/x-www-form-urlencoded"),)

