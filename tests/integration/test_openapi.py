"""The OpenAPI document describes every route the app serves, with the error shape."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import Api, running_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


async def _document(api: Api) -> dict[str, Any]:
    status, body = await api.call("GET", "/api/v1/openapi.json")
    assert status == 200
    return dict(body)


class TestOpenApi:
    async def test_every_route_documented(self, api: Api) -> None:
        """Given the app's router, when walked, then every (method, path) is an operation of the document."""
        paths = (await _document(api))["paths"]
        served = set()
        for route in api.client.app.router.routes():
            path = route.resource.canonical if route.resource else ""
            if route.method in {"HEAD", "*"}:  # "*": the catch-all that answers 404/405 in the error shape
                continue
            path = "/static/{filename}" if path == "/static" else path
            served.add((route.method.lower(), path))
        documented = {(method, path) for path, ops in paths.items() for method in ops}
        assert len(served) >= 24
        assert served <= documented
        assert documented - {("get", "/static/{filename}")} <= served

    async def test_refs_resolve(self, api: Api) -> None:
        """Given the document, when every $ref is followed, then it names a component schema."""
        document = await _document(api)
        refs = set(re.findall(r"#/components/schemas/(\w+)", str(document)))
        assert refs
        assert refs <= set(document["components"]["schemas"])

    async def test_errors_and_security(self, api: Api) -> None:
        """Given the document, then API operations need the bearer token and /healthz does not."""
        document = await _document(api)
        update = document["paths"]["/api/v1/settings"]["put"]
        assert {"400", "401", "413", "422", "503"} <= set(update["responses"])
        assert update["responses"]["422"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"}
        assert "security" not in update
        assert document["paths"]["/healthz"]["get"]["security"] == []
        assert document["security"] == [{"bearer": []}]

    async def test_unsaved_dry_run(self, api: Api) -> None:
        """Given the document, then the dry run of an unsaved action takes {action, values} and may answer 422."""
        document = await _document(api)
        operation = document["paths"]["/api/v1/actions/dry-run"]["post"]
        assert operation["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/UnsavedDryRun"}
        assert {"200", "400", "401", "422"} <= set(operation["responses"])
        assert document["components"]["schemas"]["UnsavedDryRun"]["required"] == ["action"]
