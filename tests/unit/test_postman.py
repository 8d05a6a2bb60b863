"""Postman import: every checklist line in v2.0 and v2.1 fixtures, the PBXware dashboard, whole-file errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.mapping.catalog import ALL_PARAMETERS
from agent.store.model import Action, Auth, Body, KeyValue
from agent.webhooks.postman import PostmanError, Preview, PreviewItem, display_url, load_collection, preview
from agent.webhooks.postman_scope import Variable
from agent.webhooks.request import render
from agent.webhooks.template import undefined_tags
from tests.support.paths import POSTMAN

BEARER = Auth("bearer", token="{{token}}")
BASIC = Auth("basic", username="u", password="{{pw}}")
NONE = Auth()
KV = KeyValue


def load(name: str) -> object:
    return load_collection((POSTMAN / name).read_bytes())


def checklist(version: str = "21", existing: frozenset[str] = frozenset()) -> Preview:
    return preview(load(f"checklist_v{version}.postman_collection.json"), existing)


def by_name(found: Preview) -> dict[str, PreviewItem]:
    return {item.name: item for item in found.items}


def act(name: str, method: str, url: str, auth: Auth = BEARER, description: str = "", **rest: Any) -> Action:
    query = "&".join(f"{kv.key}={kv.value}" if kv.value else kv.key for kv in rest.get("query", ()))
    shown = f"{method} {url}" + (f"?{query}" if query else "")
    return Action(name=name, method=method, url=url, auth=auth, description=description or shown, **rest)  # type: ignore[arg-type]


H = "https://h.example"
EXPECTED: list[tuple[str, Action, tuple[str, ...]]] = [
    ("Plain GET", act("Plain GET", "GET", "https://api.example.com/status", query=(KV("x", "1"),)), ()),
    ("String request", act("String request", "GET", "http://example.com/ping"), ()),
    (
        "No auth",
        act("No auth", "POST", "http://example.com/no-scheme", NONE),
        ("the URL has no scheme; http:// assumed",),
    ),
    (
        "Query",
        act("Query", "GET", f"{H}/q", query=(KV("a", "1"), KV("debug", ""), KV("sp", "a b"), KV("enc", "x y"))),
        (),
    ),
    ("Rebuilt URL", act("Rebuilt URL", "GET", "http://{{IP}}:8080/api/v1/calls", query=(KV("k", "v"),)), ()),
    (
        "Path variables",
        act("Path variables", "DELETE", f"{H}/users/42/items/{{{{item}}}}"),
        ("path variable :item has no value; it became the parameter {{item}}",),
    ),
    (
        "Headers / Array headers",
        act(
            "Headers / Array headers",
            "GET",
            f"{H}/headers",
            NONE,
            headers=(KV("X-A", "1"), KV("X-Num", "5"), KV("Authorization", "Basic abc")),
        ),
        (),
    ),
    (
        "Headers / String headers",
        act("Headers / String headers", "GET", f"{H}/headers", NONE, headers=(KV("X-One", "1"), KV("X-Two", "a:b"))),
        (),
    ),
    (
        "Headers / Mixed headers",
        act("Headers / Mixed headers", "GET", f"{H}/headers", NONE, headers=(KV("X-S", "s"), KV("X-O", "o"))),
        ("header line 'garbage' is not 'Name: value'; skipped",),
    ),
    (
        "Bodies / Raw JSON",
        act(
            "Bodies / Raw JSON",
            "POST",
            f"{H}/body",
            BASIC,
            body=Body("raw", raw='{"name": "{{calling_name}}"}', content_type="application/json"),
        ),
        (),
    ),
    (
        "Bodies / Raw by header",
        act(
            "Bodies / Raw by header",
            "POST",
            f"{H}/body",
            BASIC,
            body=Body("raw", raw="{}", content_type="application/vnd.api+json"),
        ),
        (),
    ),
    (
        "Bodies / Raw XML",
        act(
            "Bodies / Raw XML",
            "PUT",
            f"{H}/body",
            BASIC,
            body=Body("raw", raw="<a>{{extension}}</a>", content_type="application/xml"),
        ),
        (),
    ),
    (
        "Bodies / Raw default",
        act(
            "Bodies / Raw default",
            "PATCH",
            f"{H}/body",
            BASIC,
            body=Body("raw", raw="hello", content_type="text/plain"),
        ),
        (),
    ),
    (
        "Bodies / Urlencoded",
        act(
            "Bodies / Urlencoded",
            "POST",
            f"{H}/body",
            BASIC,
            body=Body("x-www-form-urlencoded", (KV("a", "1"), KV("c", "3"))),
        ),
        (),
    ),
    (
        "Bodies / Formdata",
        act("Bodies / Formdata", "POST", f"{H}/body", BASIC, body=Body("form-data", (KV("t", "v"), KV("ct", "{}")))),
        (
            "file part 'f' skipped: files cannot be sent",
            "file part 'd' skipped: files cannot be sent",
            "the content type of part 'ct' is not kept",
        ),
    ),
    (
        "Bodies / File inline",
        act(
            "Bodies / File inline",
            "POST",
            f"{H}/f",
            BASIC,
            body=Body("raw", raw="data", content_type="application/octet-stream"),
        ),
        (),
    ),
    (
        "Bodies / File src",
        act("Bodies / File src", "POST", f"{H}/f", BASIC),
        ("the file body cannot be imported; imported without a body",),
    ),
    (
        "Bodies / GraphQL",
        act(
            "Bodies / GraphQL",
            "POST",
            f"{H}/graphql",
            BASIC,
            body=Body(
                "raw",
                raw='{"query": "query { me { id } }", "variables": {"id": "{{extension}}"}}',
                content_type="application/json",
            ),
        ),
        (),
    ),
    ("Bodies / Body disabled", act("Bodies / Body disabled", "POST", f"{H}/b", BASIC), ()),
    ("Bodies / Deep / Middle", act("Bodies / Deep / Middle", "GET", f"{H}/middle", BASIC), ()),
    ("Bodies / Deep / Deeper / Bottom", act("Bodies / Deep / Deeper / Bottom", "GET", f"{H}/bottom", NONE), ()),
    ("Auth / Basic", act("Auth / Basic", "GET", f"{H}/auth", Auth("basic", username="admin", password="p@ss")), ()),
    ("Auth / Bearer", act("Auth / Bearer", "GET", f"{H}/auth", Auth("bearer", token="abc")), ()),
    (
        "Auth / API key header",
        act("Auth / API key header", "GET", f"{H}/auth", Auth("api_key", key="X-Key", value="{{secret_key}}")),
        (),
    ),
    (
        "Auth / API key query",
        act(
            "Auth / API key query",
            "GET",
            f"{H}/auth",
            Auth("api_key", key="apikey", value="{{API_Key}}", place="query"),
        ),
        (),
    ),
    (
        "Auth / AWS",
        act("Auth / AWS", "GET", f"{H}/auth", NONE),
        ("auth type 'awsv4' is not supported; imported without auth",),
    ),
    (
        "Auth / OAuth2",
        act("Auth / OAuth2", "GET", f"{H}/auth", NONE),
        ("auth type 'oauth2' is not supported; imported without auth",),
    ),
    ("Auth / Inherited", act("Auth / Inherited", "GET", f"{H}/auth"), ()),
    (
        "Variables / Uses vars",
        act(
            "Variables / Uses vars",
            "GET",
            "http://{{IP}}:{{port_1}}/x",
            query=(
                KV("t", "{{postman_tenant}}"),
                KV("d", "{{postman_date}}"),
                KV("b", "{{base_url}}"),
                KV("l", "{{local}}"),
                KV("v", "{{ verbose }}"),
            ),
        ),
        (
            "{{tenant}} is a system parameter here; the collection's value is the constant {{postman_tenant}}",
            "{{date}} is a system parameter here; the collection's value is the constant {{postman_date}}",
            "{{port}} now refers to parameter {{port_1}}",
            "{{base url}} now refers to parameter {{base_url}}",
        ),
    ),
    (
        "Variables / Dynamic",
        act(
            "Variables / Dynamic",
            "GET",
            "http://h.example/d",
            query=(KV("ts", "{{unix_time}}"), KV("iso", "{{date}}T{{time}}"), KV("id", "{{$guid}}")),
        ),
        (
            "Postman variable {{$timestamp}} became {{unix_time}}",
            "Postman variable {{$isoTimestamp}} became {{date}}T{{time}}",
            "Postman dynamic variable {{$guid}} is not supported; it is sent as written",
        ),
    ),
    (
        "Scripts and settings / Scripted",
        act("Scripts and settings / Scripted", "GET", f"{H}/scripted"),
        (
            "folder 'Scripts and settings' has a prerequest script; scripts are not run",
            "the request has a test script; scripts are not run",
            "setting strictSSL = false is ignored: TLS certificates are always verified",
            "setting maxRedirects is ignored",
            "the request's proxy setting is ignored",
            "the request's certificate setting is ignored",
        ),
    ),
    ("Duplicate", act("Duplicate", "GET", f"{H}/dup/1"), ()),
    ("Duplicate_1", act("Duplicate_1", "GET", f"{H}/dup/2"), ("renamed to 'Duplicate_1': the name is taken",)),
    ("Untitled", act("Untitled", "GET", f"{H}/untitled"), ()),
    ("Described", act("Described", "GET", f"{H}/described", description="Sends the thing"), ()),
]
LONG = "A very long request name that goes on and on describing what the request does in far too many words,"
SKIPPED = {
    "Skipped / Disabled item": ("GET", "the item is disabled"),
    "Skipped / HEAD request": ("HEAD", "method HEAD is not supported"),
    "Skipped / Custom method": ("PURGE", "method PURGE is not supported"),
    "Skipped / Bad URL": ("GET", "url: the URL must start with http:// or https://"),
}
VARIABLES = (
    Variable("token", "t0k", secret=True),  # it feeds the collection's bearer auth
    Variable("port", "8080"),
    Variable("verbose", "true"),
    Variable("postman_date", "2024-01-01", original="date"),
    Variable("base_url", "https://api.example.com", original="base url"),
    Variable("legacy", "v"),
    Variable("secret_key", "s3", secret=True),
    Variable("empty", ""),
    Variable("port_1", "9090", original="port"),
    Variable("postman_tenant", "t1", original="tenant"),
    Variable("local", "l"),
)


class TestChecklist:
    @pytest.mark.parametrize(("name", "action", "notes"), EXPECTED, ids=[row[0] for row in EXPECTED])
    def test_item(self, name: str, action: Action, notes: tuple[str, ...]) -> None:
        """Given the v2.1 checklist collection, each request imports as the action it describes, with its notes."""
        item = by_name(checklist())[name]
        assert (item.action, item.notes) == (action, notes)
        assert item.status == ("changed" if notes else "importable")
        assert (item.method, item.url) == (action.method, display_url(action))

    @pytest.mark.parametrize(("name", "why"), SKIPPED.items())
    def test_skipped(self, name: str, why: tuple[str, str]) -> None:
        """Disabled items, methods beyond the five and invalid URLs are skipped with the reason."""
        item = by_name(checklist())[name]
        assert (item.status, item.method, item.notes, item.action) == ("skipped", why[0], (why[1],), None)

    def test_long_name_cut(self) -> None:
        """A name over 100 characters is cut to 100 and noted."""
        item = by_name(checklist())[LONG]
        assert len(LONG) == 100
        assert item.notes == ("the name is cut to 100 characters",)

    def test_order_and_indexes(self) -> None:
        """Items come depth-first with indexes 0..n-1 counting skipped ones; folder paths are kept."""
        found = checklist()
        assert [item.index for item in found.items] == list(range(40))
        assert found.items[20].name == "Bodies / Deep / Deeper / Bottom"
        assert found.items[20].folder == "Bodies / Deep / Deeper"
        assert found.items[28].name == "Skipped / Disabled item"

    def test_variables(self) -> None:
        """Enabled collection and folder variables are offered stringified, renamed on collision or bad name."""
        found = checklist()
        assert found.variables == VARIABLES
        assert found.notes == (
            "variable 'date' is offered as parameter 'postman_date'",
            "variable 'base url' is offered as parameter 'base_url'",
            "variable 'port' is offered as parameter 'port_1'",
            "variable 'tenant' is offered as parameter 'postman_tenant'",
        )

    def test_versions_agree(self) -> None:
        """Given the same collection in v2.0 shape (auth maps, urlencoded `enabled`), the preview is identical."""
        v20, v21 = checklist("20"), checklist("21")
        assert (v20.version, v21.version) == ("2.0", "2.1")
        assert v20.items == v21.items
        assert v20.variables == v21.variables

    def test_existing_names(self) -> None:
        """Given existing action names (any case), imported names get `_1`, `_2` suffixes."""
        items = by_name(checklist(existing=frozenset({"plain get", "Duplicate", "Duplicate_1"})))
        assert items["Plain GET_1"].action is not None
        assert items["Duplicate_2"].notes == ("renamed to 'Duplicate_2': the name is taken",)
        assert items["Duplicate_3"].status == "changed"

    def test_to_json(self) -> None:
        """The preview JSON has items {index, name, method, url, status, notes} and variables {key, value}."""
        document = checklist().to_json()
        assert document["items"][3] == {
            "index": 3,
            "name": "Query",
            "method": "GET",
            "folder": "",
            "url": "https://h.example/q?a=1&debug&sp=a b&enc=x y",
            "status": "importable",
            "notes": [],
        }
        assert document["variables"][0] == {"key": "token", "value": "t0k", "secret": True}
        assert document["variables"][2] == {"key": "verbose", "value": "true", "secret": False}


def small(items: list[Any], **extra: Any) -> dict[str, Any]:
    info = {"name": "t", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"}
    return {"info": info, "item": items} | extra


class TestScopes:
    def test_collection_script_marks_every_item(self) -> None:
        """Given a non-empty collection pre-request script, every item notes it and the preview lists it."""
        found = preview(
            small(
                [{"name": "a", "request": "http://h/"}],
                event=[{"listen": "prerequest", "script": {"exec": ["pm.environment.set('a', 1)"]}}],
            ),
            (),
        )
        assert found.notes == ("the collection has a prerequest script; scripts are not run",)
        assert found.items[0].notes == found.notes

    def test_disabled_folder(self) -> None:
        """Given a disabled folder, its requests are listed as skipped and take no names."""
        found = preview(
            small(
                [
                    {"name": "F", "disabled": True, "item": [{"name": "a", "request": "http://h/"}]},
                    {"name": "F / a", "request": "http://h/2"},
                ]
            ),
            (),
        )
        assert [(i.name, i.status, i.notes) for i in found.items] == [
            ("F / a", "skipped", ("folder 'F' is disabled",)),
            ("F / a", "importable", ()),
        ]

    def test_not_an_object_and_no_request(self) -> None:
        """Given an item that is not an object and one with neither request nor items, both are skipped."""
        found = preview(small(["x", {"name": "empty"}]), ())
        assert [(i.status, i.notes) for i in found.items] == [
            ("skipped", ("the item is not an object",)),
            ("skipped", ("the item has no request",)),
        ]

    def test_base_url_variable(self) -> None:
        """Given `{{baseUrl}}/users`, the URL is kept with its leading tag (scheme and host come from it)."""
        found = preview(small([{"name": "u", "request": {"method": "GET", "url": "{{baseUrl}}/users?x=1"}}]), ())
        action = found.items[0].action
        assert action is not None
        assert (action.url, action.query) == ("{{baseUrl}}/users", (KV("x", "1"),))
        assert undefined_tags(action, ALL_PARAMETERS) == ["baseUrl"]

    def test_graphql_variables_with_bare_tag(self) -> None:
        """Given GraphQL variables that are not JSON because of a bare tag, the text is kept as written."""
        body = {"mode": "graphql", "graphql": {"query": "q", "variables": '{"n": {{n}}}'}}
        found = preview(small([{"name": "g", "request": {"method": "POST", "url": "http://h/", "body": body}}]), ())
        action = found.items[0].action
        assert action is not None
        assert action.body == Body(
            "raw", raw='{"query": "q", "variables": {"n": {{n}}}}', content_type="application/json"
        )
        assert json.loads(render(action, {"n": "5"}).body) == {"query": "q", "variables": {"n": 5}}

    def test_descriptions(self) -> None:
        """An item description in object form is used when the request has none; a long one is cut to 2000."""
        found = preview(
            small(
                [
                    {"name": "a", "description": {"content": "Hello", "type": "text/markdown"}, "request": "http://h/"},
                    {"name": "b", "request": {"url": "http://h/", "description": "x" * 2001}},
                ]
            ),
            (),
        )
        first, second = (item.action for item in found.items)
        assert first is not None
        assert second is not None
        assert first.description == "Hello"
        assert second.description == "x" * 2000
        assert found.items[1].notes == ("the description is cut to 2000 characters",)

    def test_request_variables(self) -> None:
        """A request's own variable list is offered too and applies to that request only."""
        found = preview(
            small(
                [
                    {"name": "a", "variable": [{"key": "call_id", "value": "x"}], "request": "http://h/{{call_id}}"},
                    {"name": "b", "request": "http://h/{{call_id}}"},
                ]
            ),
            (),
        )
        assert found.variables == (Variable("postman_call_id", "x", original="call_id"),)
        urls = [item.action.url for item in found.items if item.action]
        assert urls == ["http://h/{{postman_call_id}}", "http://h/{{call_id}}"]


DASHBOARD = [
    ("Services", "services", False),
    ("CPU", "cpu", False),
    ("Memory", "memory", False),
    ("Disk Usage", "disk_usage", False),
    ("Licensing", "licensing", True),
    ("Glocom Users", "glocom_users", True),
    ("Glocom Editions", "glocom_editions", True),
    ("Ext_Online", "ext_online", True),
    ("SIP_Registrations", "sip_registrations", True),
    ("Calls Overview", "calls", True),
]


class TestPbxwareDashboard:
    def test_actions(self) -> None:
        """Given the dashboard collection, each request becomes the GET the reference product lists."""
        found = preview(load("pbxware_dashboard.postman_collection.json"), ())
        assert [item.status for item in found.items] == ["importable"] * 10
        for item, (name, key, server) in zip(found.items, DASHBOARD, strict=True):
            server_kv = (KV("server", "{{Srv/Tenant-ID}}"),) if server else ()
            query = (KV("apikey", "{{API_Key}}"), KV("action", f"pbxware.dashboard.{key}"), *server_kv)
            line = f"http://{{{{IP}}}}/index.php?apikey={{{{API_Key}}}}&action=pbxware.dashboard.{key}"
            line += "&server={{Srv/Tenant-ID}}" if server else ""
            assert item.action == Action(
                name=name, method="GET", url="http://{{IP}}/index.php", query=query, description=f"GET {line}"
            )
            assert item.url == line

    def test_undefined_until_defined(self) -> None:
        """IP and API_Key (and Srv/Tenant-ID where used) are undefined until defined as custom parameters."""
        found = preview(load("pbxware_dashboard.postman_collection.json"), ())
        calls, services = found.items[9].action, found.items[0].action
        assert calls is not None
        assert services is not None
        assert undefined_tags(calls, ALL_PARAMETERS) == ["IP", "API_Key", "Srv/Tenant-ID"]
        assert undefined_tags(services, ALL_PARAMETERS) == ["IP", "API_Key"]
        assert undefined_tags(services, {*ALL_PARAMETERS, "IP", "API_Key"}) == []
        values = {"IP": "192.168.201.9", "API_Key": "s4FH", "Srv/Tenant-ID": "1"}
        assert render(calls, values).url == (
            "http://192.168.201.9/index.php?apikey=s4FH&action=pbxware.dashboard.calls&server=1"
        )


def deep_folders(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"name": "leaf", "request": "http://h/"}
    for level in range(levels):
        node = {"name": f"f{level}", "item": [node]}
    return small([node])


class TestWholeFileErrors:
    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (b'{"info": {,}}', "invalid JSON at line 1, column 11"),
            (b'{\n  "a": 1\n  "b": 2\n}', "invalid JSON at line 3, column 3"),
            (b"\xff\xfe{}", "not UTF-8"),
            (b"[" * 300 + b"]" * 300, "nested deeper than 256 levels"),
            (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 256 levels"),
        ],
    )
    def test_load(self, data: bytes, message: str) -> None:
        """Given a broken file, load_collection says what is wrong (with line and column for bad JSON)."""
        with pytest.raises(PostmanError, match=message):
            load_collection(data)

    def test_size_limit(self) -> None:
        """Given more bytes than the limit, the file is refused before parsing."""
        with pytest.raises(PostmanError, match="larger than 1 MiB"):
            load_collection(b" " * (1024 * 1024 + 1), limit=1024 * 1024)

    def test_bom_accepted(self) -> None:
        """A UTF-8 byte order mark (Windows editors) is accepted."""
        assert load_collection(b"\xef\xbb\xbf{}") == {}

    @pytest.mark.parametrize(
        ("collection", "message"),
        [
            ([], "must hold a JSON object"),
            ({"item": []}, "'info' is missing"),
            ({"info": {"name": "x"}, "item": []}, "'info.schema' is missing"),
            (
                {"info": {"name": "x", "schema": "https://example.com/v3.0.0/c.json"}, "item": []},
                "unknown collection schema",
            ),
            (small([]) | {"item": {}}, "an 'item' list are required"),
            ({"info": {"schema": small([])["info"]["schema"]}, "item": []}, "'info.name'"),
            (
                {
                    "info": {
                        "name": "x",
                        "schema": "https://schema.getpostman.com/json/collection/v1.0.0/collection.json",
                    },
                    "item": [],
                },
                "v1 is not supported",
            ),
        ],
    )
    def test_structure(self, collection: object, message: str) -> None:
        """Given a document that is not a v2.0/v2.1 collection, preview raises PostmanError saying why."""
        with pytest.raises(PostmanError, match=message):
            preview(collection, ())

    def test_v1_and_environment_files(self) -> None:
        """Given a v1 export or an environment export, the message names what the file is."""
        with pytest.raises(PostmanError, match=r"v1 is not supported: export it from Postman as v2\.1"):
            preview(load("v1.postman_collection.json"), ())
        with pytest.raises(PostmanError, match="Postman environment, not a collection"):
            preview(load("environment.postman_environment.json"), ())

    def test_draft07_schema_url(self) -> None:
        """The draft-07 schema URL form is recognised."""
        info = {"name": "x", "schema": "http://schema.postman.com/json/draft-07/collection/v2.1.0/collection.json"}
        assert preview({"info": info, "item": []}, ()).version == "2.1"

    def test_folder_depth(self) -> None:
        """Folders 50 deep import; 51 deep is refused."""
        assert preview(deep_folders(50), ()).items[0].action is not None
        with pytest.raises(PostmanError, match="deeper than 50 levels"):
            preview(deep_folders(51), ())

    def test_too_many_requests(self) -> None:
        """2000 requests preview; 2001 are refused."""
        item = {"name": "r", "request": "http://h/"}
        assert len(preview(small([item] * 2000), ()).items) == 2000
        with pytest.raises(PostmanError, match="more than 2000 requests"):
            preview(small([item] * 2001), ())
