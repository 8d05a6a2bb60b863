"""Parameters through HTTP: system ones read-only, custom CRUD, tag charset, usage counts, secret masking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.mapping.catalog import EXTRA_PARAMETERS, SYSTEM_PARAMETERS
from agent.store.model import Parameter
from tests.support.api import Api, action_json, running_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


async def _all(api: Api) -> dict[str, dict[str, Any]]:
    status, body = await api.call("GET", "/api/v1/parameters", params={"per_page": "500"})
    assert status == 200
    return {item["tag"]: item for item in body["items"]}


class TestList:
    async def test_system_parameters(self, api: Api) -> None:
        """Given a new store, when listed, then every system and extra tag is there, read-only, described."""
        items = await _all(api)
        assert set(items) == {*SYSTEM_PARAMETERS, *EXTRA_PARAMETERS}
        assert items["call_id"] == {"tag": "call_id", "value": "", "secret": False, "system": True,
                                    "description": SYSTEM_PARAMETERS["call_id"], "actions": 0}

    async def test_usage_counts(self, api: Api) -> None:
        """Given two actions using {{caller_id}} and one using {{API_Key}}, then the counts say so."""
        await api.call("POST", "/api/v1/parameters", json={"tag": "API_Key", "value": "k"})
        await api.call("POST", "/api/v1/actions", json=action_json("a"))
        await api.call("POST", "/api/v1/actions", json=action_json("b", headers=[]))
        items = await _all(api)
        assert (items["caller_id"]["actions"], items["API_Key"]["actions"], items["date"]["actions"]) == (2, 1, 0)

    async def test_secret_masked(self, api: Api) -> None:
        """Given a secret parameter, when listed or fetched, then its value is masked."""
        await api.call("POST", "/api/v1/parameters", json={"tag": "API_Key", "value": "hunter2", "secret": True})
        assert (await _all(api))["API_Key"]["value"] == "********"
        status, body = await api.call("GET", "/api/v1/parameters/API_Key")
        assert (status, body["value"], body["secret"]) == (200, "********", True)

    async def test_search_and_paging(self, api: Api) -> None:
        """Given custom parameters, when searched, then tag and description matches are paged."""
        for tag in ("Srv/Tenant-ID", "IP", "srv.region"):
            await api.call("POST", "/api/v1/parameters", json={"tag": tag, "value": "v"})
        _, body = await api.call("GET", "/api/v1/parameters", params={"search": "srv", "per_page": "1"})
        assert (body["total"], [item["tag"] for item in body["items"]]) == (2, ["Srv/Tenant-ID"])
        _, page2 = await api.call("GET", "/api/v1/parameters", params={"search": "srv", "per_page": "1",
                                                                       "page": "2"})
        assert [item["tag"] for item in page2["items"]] == ["srv.region"]


class TestCustom:
    async def test_create_get(self, api: Api) -> None:
        """Given a tag with / - and ., when created, then 201 and it can be fetched by that tag."""
        status, body = await api.call("POST", "/api/v1/parameters", json={"tag": "Srv/Tenant-ID.x", "value": "7"})
        assert (status, body["tag"], body["value"], body["system"]) == (201, "Srv/Tenant-ID.x", "7", False)
        status, fetched = await api.call("GET", "/api/v1/parameters/Srv%2FTenant-ID.x")
        assert (status, fetched["value"]) == (200, "7")
        status, fetched = await api.call("GET", "/api/v1/parameters/Srv/Tenant-ID.x")
        assert (status, fetched["value"]) == (200, "7")

    @pytest.mark.parametrize("tag", ["", "a b", "a{b", "x}", "é", "a\nb"])
    async def test_bad_tag(self, api: Api, tag: str) -> None:
        """Given a tag outside the template charset, when created, then 422 names `tag` and nothing is stored."""
        status, body = await api.call("POST", "/api/v1/parameters", json={"tag": tag, "value": "v"})
        assert status == 422
        assert body["details"][0]["field"] == "tag"
        assert await api.store.list_parameters() == []

    async def test_missing_value(self, api: Api) -> None:
        """Given no value, when created, then 422 names `value`."""
        status, body = await api.call("POST", "/api/v1/parameters", json={"tag": "IP"})
        assert (status, body["details"][0]["field"]) == (422, "value")

    async def test_duplicate(self, api: Api) -> None:
        """Given IP exists, when IP is created again, then 409 and the first value stays."""
        await api.call("POST", "/api/v1/parameters", json={"tag": "IP", "value": "1"})
        status, _ = await api.call("POST", "/api/v1/parameters", json={"tag": "IP", "value": "2"})
        assert status == 409
        assert await api.store.list_parameters() == [Parameter("IP", "1")]

    async def test_update(self, api: Api) -> None:
        """Given IP, when its value is changed and then only its secret flag, then the value is kept."""
        await api.call("POST", "/api/v1/parameters", json={"tag": "IP", "value": "1"})
        status, body = await api.call("PUT", "/api/v1/parameters/IP", json={"value": "10.0.0.1"})
        assert (status, body["value"]) == (200, "10.0.0.1")
        status, body = await api.call("PUT", "/api/v1/parameters/IP", json={"secret": True})
        assert (status, body["value"]) == (200, "********")
        assert await api.store.get_parameter("IP") == Parameter("IP", "10.0.0.1", secret=True)

    async def test_mask_sent_back(self, api: Api) -> None:
        """Given a secret parameter, when its masked value is sent back in a PUT, then the real value stays."""
        await api.call("POST", "/api/v1/parameters", json={"tag": "Key", "value": "hunter2", "secret": True})
        status, _ = await api.call("PUT", "/api/v1/parameters/Key", json={"value": "********", "secret": True})
        assert status == 200
        assert await api.store.get_parameter("Key") == Parameter("Key", "hunter2", secret=True)

    async def test_update_invalid(self, api: Api) -> None:
        """Given IP, when updated with a non-string value, then 422 names `value` and it is unchanged."""
        await api.call("POST", "/api/v1/parameters", json={"tag": "IP", "value": "1"})
        status, body = await api.call("PUT", "/api/v1/parameters/IP", json={"value": 2})
        assert (status, body["details"][0]["field"]) == (422, "value")
        assert (await api.store.get_parameter("IP")).value == "1"

    async def test_delete(self, api: Api) -> None:
        """Given IP, when deleted, then 204 and a second delete is 404."""
        await api.call("POST", "/api/v1/parameters", json={"tag": "IP", "value": "1"})
        assert (await api.call("DELETE", "/api/v1/parameters/IP"))[0] == 204
        assert (await api.call("DELETE", "/api/v1/parameters/IP"))[0] == 404
        assert (await api.call("GET", "/api/v1/parameters/IP"))[0] == 404

    async def test_update_missing(self, api: Api) -> None:
        """Given no parameter X, when updated, then 404 and nothing is created."""
        assert (await api.call("PUT", "/api/v1/parameters/X", json={"value": "1"}))[0] == 404
        assert await api.store.list_parameters() == []


class TestSystem:
    @pytest.mark.parametrize("tag", ["call_id", "unix_time", "event_id"])
    async def test_refused(self, api: Api, tag: str) -> None:
        """Given a system tag, when created, changed or deleted, then 409 each time and nothing is stored."""
        assert (await api.call("POST", "/api/v1/parameters", json={"tag": tag, "value": "x"}))[0] == 409
        assert (await api.call("PUT", f"/api/v1/parameters/{tag}", json={"value": "x"}))[0] == 409
        assert (await api.call("DELETE", f"/api/v1/parameters/{tag}"))[0] == 409
        assert await api.store.list_parameters() == []
        assert api.changes == []
