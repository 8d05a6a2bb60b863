"""Postman preview and import through HTTP, with the fixtures of tests/fixtures/postman/."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.store.facade import Conflict, Store
from agent.store.model import Action, Parameter
from tests.support.api import Api, action_json, running_api
from tests.support.paths import POSTMAN

PBXWARE = POSTMAN / "pbxware_dashboard.postman_collection.json"


def _load(name: str) -> dict[str, Any]:
    return dict(json.loads((POSTMAN / name).read_text(encoding="utf-8")))


def _requests(collection: dict[str, Any]) -> list[dict[str, Any]]:
    """The requests of a folder-less collection, as written in the file."""
    return [item for item in collection["item"] if "request" in item]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


class TestPreview:
    async def test_pbxware(self, api: Api) -> None:
        """Given the PBXware dashboard collection, when previewed, then every request is listed importable."""
        status, body = await api.call("POST", "/api/v1/postman/preview", data=PBXWARE.read_bytes())
        expected = _requests(_load(PBXWARE.name))
        assert status == 200
        assert [item["name"] for item in body["items"]] == [item["name"] for item in expected]
        assert {item["status"] for item in body["items"]} == {"importable"}
        assert [item["index"] for item in body["items"]] == list(range(len(expected)))
        assert body["items"][0]["method"] == "GET"
        assert body["items"][0]["url"] == expected[0]["request"]["url"]["raw"]
        assert body["variables"] == []
        assert await api.store.all_actions() == []

    async def test_variables_offered(self, api: Api) -> None:
        """Given the checklist collection and an existing `port` = 1, when previewed, then `port` (8080 at the
        collection, 9090 in a folder) is a clash offered as `port_1` and `port_2`, and variables say which exist."""
        await api.call("POST", "/api/v1/parameters", json={"tag": "port", "value": "1"})
        await api.call("POST", "/api/v1/parameters", json={"tag": "legacy", "value": "v"})
        status, body = await api.call("POST", "/api/v1/postman/preview",
                                      data=(POSTMAN / "checklist_v21.postman_collection.json").read_bytes())
        assert status == 200
        variables = {variable["key"]: variable for variable in body["variables"]}
        assert (variables["port_1"]["value"], variables["port_2"]["value"]) == ("8080", "9090")
        assert "port" not in variables
        assert variables["legacy"]["exists"] is True  # same value: no clash, kept as is
        assert variables["token"]["exists"] is False
        clashes = {clash["key"]: clash for clash in body["clashes"]}
        assert clashes["port"] == {"key": "port", "tag": "port", "kind": "parameter", "value": "8080",
                                   "existing": "1", "secret": False, "new_tag": "port_1", "choice": "new",
                                   "choices": ["new", "keep", "overwrite"]}
        assert {clash["kind"] for key, clash in clashes.items() if key != "port"} == {"system"}
        assert {item["status"] for item in body["items"]} >= {"skipped", "changed"}

    async def test_notes_folders_secrets(self, api: Api) -> None:
        """Given the checklist collection, when previewed, then the collection-level notes, each item's folder and
        each variable's secret flag are in the response (and declared in the OpenAPI document)."""
        status, body = await api.call("POST", "/api/v1/postman/preview",
                                      data=(POSTMAN / "checklist_v21.postman_collection.json").read_bytes())
        assert status == 200
        assert "variable 'base url' is offered as parameter 'base_url'" in body["notes"]
        assert body["items"][20]["folder"] == "Bodies / Deep / Deeper"
        assert body["items"][0]["folder"] == ""
        variables = {variable["key"]: variable for variable in body["variables"]}
        assert (variables["secret_key"]["secret"], variables["token"]["secret"]) == (True, True)  # token: bearer auth
        assert variables["legacy"]["secret"] is False
        _, document = await api.call("GET", "/api/v1/openapi.json")
        schemas = document["components"]["schemas"]
        assert {"notes", "name", "version"} <= set(schemas["PostmanPreview"]["properties"])
        assert "folder" in schemas["PostmanItem"]["properties"]
        assert "secret" in schemas["PostmanVariable"]["properties"]

    @pytest.mark.parametrize(
        ("data", "status", "words"),
        [(b"{not json", 400, "malformed JSON"),
         ((POSTMAN / "v1.postman_collection.json").read_bytes(), 422, "v1"),
         ((POSTMAN / "environment.postman_environment.json").read_bytes(), 422, "environment"),
         (json.dumps({"info": {"name": "x", "schema": "https://example.com/v9.9.9/x.json"}, "item": []}).encode(),
          422, "unknown collection schema"),
         (b"[]", 422, "JSON object")],
    )
    async def test_whole_file_errors(self, api: Api, data: bytes, status: int, words: str) -> None:
        """Given a file that is not an importable collection, when previewed, then 4xx with a clear message."""
        got, body = await api.call("POST", "/api/v1/postman/preview", data=data)
        assert got == status
        assert words in body["error"] + json.dumps(body["details"])

    async def test_large_collection_allowed(self, api: Api) -> None:
        """Given a 2 MiB collection (over the 1 MiB default), when previewed, then it is accepted."""
        collection = _load(PBXWARE.name)
        collection["info"]["description"] = "x" * (2 * 1024 * 1024)
        status, _ = await api.call("POST", "/api/v1/postman/preview",
                                   data=io.BytesIO(json.dumps(collection).encode()))
        assert status == 200

    async def test_over_10_mib(self, api: Api) -> None:
        """Given a body over 10 MiB, when previewed, then 413."""
        status, body = await api.call("POST", "/api/v1/postman/preview", data=io.BytesIO(b" " * (10 * 1024 * 1024 + 1)))
        assert (status, body["error"]) == (413, "request body too large")


class TestImport:
    async def test_all_pbxware(self, api: Api) -> None:
        """Given the PBXware collection, when all is imported, then the actions equal the collection's requests
        and {{IP}}/{{API_Key}} are undefined until defined through the parameters API."""
        collection = _load(PBXWARE.name)
        status, body = await api.call("POST", "/api/v1/postman/import", json={"collection": collection, "all": True})
        assert status == 201, body
        expected = _requests(collection)
        assert [action["name"] for action in body["created"]] == [item["name"] for item in expected]
        for action, item in zip(body["created"], expected, strict=True):
            url = item["request"]["url"]
            assert (action["method"], action["url"]) == (item["request"]["method"], url["raw"].split("?")[0])
            assert action["query"] == [{"key": q["key"], "value": q["value"]} for q in url["query"]]
            assert {"IP", "API_Key"} <= set(action["undefined_parameters"])
        assert len(await api.store.all_actions()) == len(expected)
        for tag, value in (("IP", "192.168.201.9"), ("API_Key", "s4FHmODB")):
            assert (await api.call("POST", "/api/v1/parameters", json={"tag": tag, "value": value}))[0] == 201
        _, listed = await api.call("GET", "/api/v1/actions", params={"per_page": "500"})
        assert len(listed["items"]) == len(expected)
        assert all(not {"IP", "API_Key"} & set(item["undefined_parameters"]) for item in listed["items"])

    async def test_selection(self, api: Api) -> None:
        """Given indexes 0 and 2, when imported, then only those two actions are created, in that order."""
        collection = _load(PBXWARE.name)
        status, body = await api.call("POST", "/api/v1/postman/import",
                                      json={"collection": collection, "select": [2, 0]})
        assert status == 201
        names = [item["name"] for item in _requests(collection)]
        assert [action["name"] for action in body["created"]] == [names[2], names[0]]
        assert [item["index"] for item in body["report"]] == [2, 0]

    async def test_existing_name_renamed(self, api: Api) -> None:
        """Given an action named like a request, when imported, then the new one gets a suffix, none is lost."""
        collection = _load(PBXWARE.name)
        first = _requests(collection)[0]["name"]
        await api.call("POST", "/api/v1/actions", json=action_json(first))
        status, body = await api.call("POST", "/api/v1/postman/import", json={"collection": collection, "select": [0]})
        assert (status, body["created"][0]["name"]) == (201, f"{first}_1")

    async def test_variables_created(self, api: Api) -> None:
        """Given the checklist collection and an existing `port`, when imported, then the other variables become
        custom parameters and `port` keeps its value."""
        await api.call("POST", "/api/v1/parameters", json={"tag": "port", "value": "keep"})
        collection = _load("checklist_v21.postman_collection.json")
        status, body = await api.call("POST", "/api/v1/postman/import", json={"collection": collection, "all": True})
        assert status == 201, body
        stored = {p.tag: p for p in await api.store.list_parameters()}
        assert stored["port"] == Parameter("port", "keep")
        assert "token" in stored
        assert "port" not in body["parameters"]
        assert set(body["parameters"]) <= set(stored)

    async def test_secret_variable(self, api: Api) -> None:
        """Given a collection variable of type secret and one that feeds the bearer auth, when imported, then both
        parameters are stored as secret and their values are not shown back by the parameters API; plain variables
        stay plain."""
        collection = _load("checklist_v21.postman_collection.json")
        status, body = await api.call("POST", "/api/v1/postman/import", json={"collection": collection, "all": True})
        assert status == 201, body
        assert await api.store.get_parameter("secret_key") == Parameter("secret_key", "s3", secret=True)
        assert await api.store.get_parameter("token") == Parameter("token", "t0k", secret=True)
        assert await api.store.get_parameter("legacy") == Parameter("legacy", "v", secret=False)
        _, listed = await api.call("GET", "/api/v1/parameters", params={"per_page": "500"})
        shown = next(item for item in listed["items"] if item["tag"] == "secret_key")
        assert shown["secret"] is True
        assert shown["value"] != "s3"

    async def test_variables_off(self, api: Api) -> None:
        """Given `variables: false`, when imported, then no parameter is created."""
        collection = _load("checklist_v21.postman_collection.json")
        status, _ = await api.call("POST", "/api/v1/postman/import",
                                   json={"collection": collection, "all": True, "variables": False})
        assert status == 201
        assert await api.store.list_parameters() == []

    @pytest.mark.parametrize(
        ("payload", "field"),
        [({"select": [0, 99]}, "select.1"), ({}, "select"), ({"select": [0], "all": True}, "select"),
         ({"select": ["0"]}, "select.0")],
    )
    async def test_bad_selection(self, api: Api, payload: dict[str, Any], field: str) -> None:
        """Given a broken selection, when imported, then 422 names it and nothing at all is written."""
        collection = _load("checklist_v21.postman_collection.json")
        status, body = await api.call("POST", "/api/v1/postman/import", json={"collection": collection, **payload})
        assert status == 422
        assert field in [detail.get("field") for detail in body["details"]]
        assert await api.store.all_actions() == []
        assert await api.store.list_parameters() == []

    async def test_skipped_item_selected(self, api: Api) -> None:
        """Given a selection holding one good and one skipped request, when imported, then 422 and nothing written."""
        collection = _load("checklist_v21.postman_collection.json")
        _, preview = await api.call("POST", "/api/v1/postman/preview", json=collection)
        good = next(item["index"] for item in preview["items"] if item["status"] != "skipped")
        bad = next(item["index"] for item in preview["items"] if item["status"] == "skipped")
        status, body = await api.call("POST", "/api/v1/postman/import",
                                      json={"collection": collection, "select": [good, bad]})
        assert status == 422
        assert body["details"][0]["field"] == "select.1"
        assert await api.store.all_actions() == []
        assert await api.store.list_parameters() == []

    async def test_duplicate_names(self, api: Api) -> None:
        """Given two requests with the same name, when all is imported, then both are created with unique names."""
        collection = _load("checklist_v21.postman_collection.json")
        collection["item"].append({"name": "dup", "request": {"method": "GET", "url": "http://127.0.0.1/a"}})
        collection["item"].append({"name": "dup", "request": {"method": "GET", "url": "http://127.0.0.1/b"}})
        status, body = await api.call("POST", "/api/v1/postman/import", json={"collection": collection, "all": True})
        assert status == 201, body
        assert len({action["name"].casefold() for action in body["created"]}) == len(body["created"])

    async def test_v1_refused(self, api: Api) -> None:
        """Given a v1 collection, when imported, then 422 with a clear message and nothing written."""
        status, body = await api.call("POST", "/api/v1/postman/import",
                                      json={"collection": _load("v1.postman_collection.json"), "all": True})
        assert status == 422
        assert "v1" in body["error"]
        assert await api.store.all_actions() == []


class TestImportWrite:
    async def test_conflict_leaves_nothing(self, tmp_path: Path) -> None:
        """Given an action x, when an import of x plus a new parameter is written, then Conflict and the
        parameter is gone again (all or nothing)."""
        store = await Store.open(tmp_path / "agent.db")
        try:
            await store.create_action(Action(name="x", method="GET", url="http://127.0.0.1/x"))
            with pytest.raises(Conflict):
                await store.import_collection([Action(name="y", method="GET", url="http://127.0.0.1/y"),
                                               Action(name="x", method="GET", url="http://127.0.0.1/x")],
                                              [Parameter("fresh", "1"), Parameter("fresh2", "2")])
            assert await store.list_parameters() == []
            assert [action.name for action in await store.all_actions()] == ["x"]
        finally:
            await store.close()


PUBLIC = POSTMAN / "public"
CHECKOUT_LIKE = "adyen_testcards_v1.json"
SESSION = "adyen_session_authentication_v1.json"


def _public(name: str) -> dict[str, Any]:
    return dict(json.loads((PUBLIC / name).read_text(encoding="utf-8")))


class TestClashImport:
    async def _first(self, api: Api) -> None:
        status, body = await api.call("POST", "/api/v1/postman/import",
                                      json={"collection": _public(CHECKOUT_LIKE), "all": True})
        assert (status, sorted(body["parameters"])) == (201, ["X-API-Key", "baseUrl"])

    async def test_default_never_another_host(self, api: Api) -> None:
        """Given Adyen Test Cards imported (baseUrl = pal-test), when Adyen Session authentication (baseUrl =
        test.adyen.com/authe) is imported with no choice, then its action uses baseUrl_1 holding its own host and
        the existing baseUrl keeps the Test Cards host."""
        await self._first(api)
        status, preview = await api.call("POST", "/api/v1/postman/preview", data=(PUBLIC / SESSION).read_bytes())
        assert status == 200
        assert [(c["key"], c["existing"], c["value"], c["choice"]) for c in preview["clashes"]] == [
            ("baseUrl", "https://pal-test.adyen.com/pal/services/TestCard/v1", "https://test.adyen.com/authe/api/v1",
             "new")]
        assert preview["items"][0]["notes"][0].startswith("{{baseUrl}} is already a parameter with another value")
        status, body = await api.call("POST", "/api/v1/postman/import",
                                      json={"collection": _public(SESSION), "all": True})
        assert status == 201, body
        assert body["created"][0]["url"] == "{{baseUrl_1}}/sessions"
        assert body["parameters"] == ["baseUrl_1"]
        assert (await api.store.get_parameter("baseUrl_1")).value == "https://test.adyen.com/authe/api/v1"
        assert (await api.store.get_parameter("baseUrl")).value == "https://pal-test.adyen.com/pal/services/TestCard/v1"

    @pytest.mark.parametrize(("choice", "stored"), [
        ("keep", "https://pal-test.adyen.com/pal/services/TestCard/v1"),
        ("overwrite", "https://test.adyen.com/authe/api/v1"),
    ])
    async def test_keep_or_overwrite(self, api: Api, choice: str, stored: str) -> None:
        """Keep leaves the existing baseUrl and points the action at it; overwrite gives baseUrl the new host in
        the same import."""
        await self._first(api)
        request = {"collection": _public(SESSION), "all": True, "choices": {"baseUrl": choice}}
        status, body = await api.call("POST", "/api/v1/postman/import", json=request)
        assert status == 201, body
        assert body["created"][0]["url"] == "{{baseUrl}}/sessions"
        assert body["overwritten"] == (["baseUrl"] if choice == "overwrite" else [])
        assert (await api.store.get_parameter("baseUrl")).value == stored

    @pytest.mark.parametrize(("choices", "field"), [({"baseUrl": "system"}, "choices.baseUrl"),
                                                    ({"nope": "keep"}, "choices.nope")])
    async def test_bad_choice(self, api: Api, choices: dict[str, str], field: str) -> None:
        """A choice that is not one of the clash's, or names no clash, is 422 naming the variable; nothing is
        written."""
        await self._first(api)
        before = len(await api.store.all_actions())
        status, body = await api.call("POST", "/api/v1/postman/import",
                                      json={"collection": _public(SESSION), "all": True, "choices": choices})
        assert status == 422
        assert [detail["field"] for detail in body["details"]] == [field]
        assert len(await api.store.all_actions()) == before

    async def test_error_said_once(self, api: Api) -> None:
        """A file without `info` answers one sentence, not the same words twice."""
        status, body = await api.call("POST", "/api/v1/postman/preview", json={"item": []})
        assert (status, body["error"]) == (422, "not a Postman collection: 'info' is missing")
