"""Postman import fixes found on real collections: clashes, pruned bodies, form types, names, notes, secrets."""

from __future__ import annotations

from typing import Any

import pytest

from agent.store.model import Body, KeyValue, Parameter
from agent.webhooks.postman import PostmanError, Preview, detect_version, preview
from agent.webhooks.postman_clash import MASK

SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"


def collection(items: list[Any], variables: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"info": {"name": "c", "schema": SCHEMA}, "item": items, "variable": variables or [], **extra}


def get(url: str, **request: Any) -> dict[str, Any]:
    return {"name": "r", "request": {"method": "GET", "url": url, **request}}


def only(found: Preview) -> Any:
    assert len(found.items) == 1
    return found.items[0]


BASE = [{"key": "baseUrl", "value": "https://management.example"}]
CHECKOUT = {"baseUrl": Parameter("baseUrl", "https://checkout.example")}


class TestClashes:
    def test_default_new_tag(self) -> None:
        """Given baseUrl already a parameter with another host, when previewed with no choice, then the request
        uses baseUrl_1 (the collection's host), says so first, and the clash lists both values."""
        found = preview(collection([get("{{baseUrl}}/users")], BASE), (), CHECKOUT)
        item = only(found)
        assert item.action.url == "{{baseUrl_1}}/users"
        assert item.notes[0] == ("{{baseUrl}} is already a parameter with another value; the collection's value is "
                                 "imported as {{baseUrl_1}}")
        assert [(v.key, v.value) for v in found.variables] == [("baseUrl_1", "https://management.example")]
        assert found.to_json()["clashes"] == [{
            "key": "baseUrl", "tag": "baseUrl", "kind": "parameter", "value": "https://management.example",
            "existing": "https://checkout.example", "secret": False, "new_tag": "baseUrl_1", "choice": "new",
            "choices": ["new", "keep", "overwrite"]}]

    @pytest.mark.parametrize(("choice", "url", "offered"), [
        ("keep", "{{baseUrl}}/users", []),
        ("overwrite", "{{baseUrl}}/users", ["baseUrl"]),
        ("new", "{{baseUrl_1}}/users", ["baseUrl_1"]),
    ])
    def test_choices(self, choice: str, url: str, offered: list[str]) -> None:
        """Keep leaves the request on the existing parameter (nothing offered); overwrite offers the tag itself
        (the import updates it); new offers a new tag."""
        found = preview(collection([get("{{baseUrl}}/users")], BASE), (), CHECKOUT, {"baseUrl": choice})
        assert only(found).action.url == url
        assert [v.key for v in found.variables] == offered
        assert found.clashes[0].choice == choice

    def test_same_value_no_clash(self) -> None:
        """A variable whose tag holds the same value already is no clash and adds no note."""
        found = preview(collection([get("{{baseUrl}}/users")], BASE), (),
                        {"baseUrl": Parameter("baseUrl", "https://management.example")})
        assert (found.clashes, only(found).notes, only(found).status) == ((), (), "importable")

    def test_secrets_masked(self) -> None:
        """A secret existing parameter and a variable that feeds the bearer auth are masked in the clash."""
        variables = [{"key": "token", "value": "new-secret"}]
        request = get("https://h.example/", auth={"type": "bearer", "bearer": [{"key": "token", "value": "{{token}}"}]})
        found = preview(collection([request], variables), (), {"token": Parameter("token", "old", secret=True)})
        clash = found.to_json()["clashes"][0]
        assert (clash["value"], clash["existing"], clash["secret"]) == (MASK, MASK, True)
        assert "new-secret" not in str(found.to_json()["clashes"])

    def test_system_tag(self) -> None:
        """A variable named like a system tag makes the request changed with a note first; `system` keeps the
        live value and offers nothing, the default makes it the constant postman_caller_id."""
        items = [get("https://h.example/?from={{caller_id}}")]
        variables = [{"key": "caller_id", "value": "100"}]
        default = only(preview(collection(items, variables), ()))
        assert default.status == "changed"
        assert default.notes[0] == ("{{caller_id}} is a system parameter here; the collection's value is the "
                                    "constant {{postman_caller_id}}")
        assert default.action.query == (KeyValue("from", "{{postman_caller_id}}"),)
        live = preview(collection(items, variables), (), None, {"caller_id": "system"})
        assert only(live).action.query == (KeyValue("from", "{{caller_id}}"),)
        assert only(live).notes[0] == ("{{caller_id}} is the live system parameter {{caller_id}} here, not the "
                                       "collection's value")
        assert live.variables == ()


class TestRequests:
    def test_string_url_path_variable(self) -> None:
        """A string URL with :id gets the same handling and note as the object form."""
        item = only(preview(collection([get("{{baseUrl}}/users/:id")]), ()))
        assert item.action.url == "{{baseUrl}}/users/{{id}}"
        assert item.notes == ("path variable :id has no value; it became the parameter {{id}}",)

    def test_get_body_dropped(self) -> None:
        """A GET body with content is dropped with a note; with disableBodyPruning it is kept; an empty one is
        none without a note."""
        body = {"mode": "formdata", "formdata": [{"key": "client_secret", "value": "s", "type": "text"}]}
        dropped = only(preview(collection([get("https://h.example/", body=body)]), ()))
        assert (dropped.action.body, dropped.notes) == (
            Body(), ("the formdata body is dropped: Postman sends no body with GET (no disableBodyPruning)",))
        kept = get("https://h.example/", body=body) | {"protocolProfileBehavior": {"disableBodyPruning": True}}
        assert only(preview(collection([kept]), ())).action.body == Body(
            "form-data", fields=(KeyValue("client_secret", "s"),))
        empty = only(preview(collection([get("https://h.example/", body={"mode": "formdata", "formdata": []})]), ()))
        assert (empty.action.body, empty.notes) == (Body(), ())

    @pytest.mark.parametrize(("mode", "content_type", "body_type", "header", "note"), [
        ("urlencoded", "application/x-www-form-urlencoded", "x-www-form-urlencoded", True, None),
        ("urlencoded", "text/plain", "x-www-form-urlencoded", True,
         "the Content-Type header 'text/plain' is kept as written for the URL-encoded form"),
        ("formdata", "application/x-www-form-urlencoded", "x-www-form-urlencoded", True,
         "the form-data body is sent URL-encoded, as its Content-Type header says"),
        ("formdata", "application/json", "form-data", False,
         "the Content-Type header 'application/json' is replaced by multipart/form-data for the form"),
        ("formdata", "multipart/form-data", "form-data", False, None),
    ])
    def test_form_content_type(self, mode: str, content_type: str, body_type: str, header: bool,
                               note: str | None) -> None:
        """An explicit Content-Type on a form is kept, makes the form URL-encoded, or is replaced with a note."""
        request = {"method": "POST", "url": "https://h.example/",
                   "header": [{"key": "Content-Type", "value": content_type}],
                   "body": {"mode": mode, mode: [{"key": "a", "value": "1", "type": "text"}]}}
        item = only(preview(collection([{"name": "r", "request": request}]), ()))
        assert item.action.body.type == body_type
        assert (KeyValue("Content-Type", content_type) in item.action.headers) is header
        assert item.notes == ((note,) if note else ())

    def test_query_encoding_noted(self) -> None:
        """`$select=id,displayName` is sent percent-encoded; the note says so. Plain values get no note."""
        item = only(preview(collection([get("https://graph.example/users?$select=id,displayName&top=5")]), ()))
        assert item.notes == ("query $select=id,displayName is sent as %24select=id%2CdisplayName "
                              "(Postman sends these characters as written)",)

    def test_no_note_for_empty_settings(self) -> None:
        """Settings that change nothing (an empty disabledSystemHeaders, Postman's defaults) add no note."""
        request = get("https://h.example/") | {"protocolProfileBehavior": {
            "disabledSystemHeaders": {}, "followOriginalHttpMethod": False, "disableCookies": False}}
        assert only(preview(collection([request]), ())).notes == ()

    def test_auth_variables_secret(self) -> None:
        """Variables that feed a bearer token, a basic password or an API key value are offered as secret."""
        variables = [{"key": k, "value": "v"} for k in ("tok", "user", "pw", "key", "plain")]
        items = [
            get("https://h.example/a", auth={"type": "bearer", "bearer": [{"key": "token", "value": "{{tok}}"}]}),
            get("https://h.example/b", auth={"type": "basic", "basic": [
                {"key": "username", "value": "{{user}}"}, {"key": "password", "value": "{{pw}}"}]}),
            get("https://h.example/c?p={{plain}}", auth={"type": "apikey", "apikey": [
                {"key": "key", "value": "X-Key"}, {"key": "value", "value": "{{key}}"}]}),
        ]
        found = preview(collection(items, variables), ())
        assert {v.key: v.secret for v in found.variables} == {
            "tok": True, "user": False, "pw": True, "key": True, "plain": False}

    def test_script_object_reported(self) -> None:
        """A script given as one object (not a list) is reported like the others."""
        request = get("https://h.example/") | {"event": {"listen": "prerequest", "script": {"exec": ["x()"]}}}
        assert only(preview(collection([request]), ())).notes == (
            "the request has a prerequest script; scripts are not run",)


class TestNames:
    def test_folder_path_shortened(self) -> None:
        """A name over 100 characters keeps the request's own name and shortens the folder path from the left."""
        own = "Get the list of every thing"
        folders = ["A rather long folder name number one", "Another long folder name, the second", "Third"]
        nested: Any = get("https://h.example/") | {"name": own}
        for folder in reversed(folders):
            nested = {"name": folder, "item": [nested]}
        item = only(preview(collection([nested]), ()))
        assert item.name == f"… / {folders[1]} / Third / {own}"
        assert item.notes == ("the folder path is shortened to fit the name in 100 characters",)

    def test_similar_long_names_stay_apart(self) -> None:
        """Seven requests with long folder paths keep their own names instead of differing by `_1`..`_6`."""
        folder = "F" * 95
        requests = [get("https://h.example/") | {"name": f"Request number {n}"} for n in range(7)]
        found = preview(collection([{"name": folder, "item": requests}]), ())
        assert [item.name for item in found.items] == [f"… / Request number {n}" for n in range(7)]


class TestErrors:
    def test_said_once(self) -> None:
        """A file without `info` is refused with one plain sentence."""
        with pytest.raises(PostmanError) as error:
            detect_version({"item": []})
        assert str(error.value) == "not a Postman collection: 'info' is missing"
