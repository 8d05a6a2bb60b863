"""Admin API for call rates: CRUD, CSV export/import, one error shape, against a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import Api, running_api

CSV = (
    "prefix,price_per_minute,connection_fee,minimum_s,increment_s,description\r\n"
    "1555,0.05,0.10,30,6,Test range\r\n"
    "+44,0.0850,0.10,60,60,United Kingdom\r\n"
)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


def _rate(prefix: str = "49", price: Any = "0.07", **changes: Any) -> dict[str, Any]:
    return {"prefix": prefix, "price_per_minute": price, "connection_fee": "0", "minimum_s": 1,
            "increment_s": 1, "description": "Germany"} | changes


class TestRatesApi:
    async def test_create_and_list(self, api: Api) -> None:
        """Given a POSTed rate, it is listed with its id and money kept as exact decimal strings."""
        status, created = await api.call("POST", "/api/v1/rates", json=_rate(price="0.0700"))
        assert status == 201
        assert created["price_per_minute"] == "0.0700"
        status, page = await api.call("GET", "/api/v1/rates")
        assert status == 200
        assert page["items"] == [created]
        assert page["total"] == 1
        assert api.changes == [1]

    async def test_update_and_delete(self, api: Api) -> None:
        """Given a rate, PUT replaces it and DELETE removes it; a second DELETE is 404 in the error shape."""
        _, created = await api.call("POST", "/api/v1/rates", json=_rate())
        path = f"/api/v1/rates/{created['id']}"
        status, updated = await api.call("PUT", path, json=_rate(price="0.09", minimum_s=30, increment_s=6))
        assert status == 200
        assert (updated["price_per_minute"], updated["minimum_s"], updated["increment_s"]) == ("0.09", 30, 6)
        assert (await api.call("DELETE", path))[0] == 204
        status, body = await api.call("DELETE", path)
        assert status == 404
        assert set(body) == {"error", "details"}

    async def test_id_past_sqlite_range(self, api: Api) -> None:
        """Given an id no SQLite row can have, PUT and DELETE answer 404 in the error shape, never 500."""
        path = "/api/v1/rates/999999999999999999999"
        assert (await api.call("DELETE", path))[0] == 404
        status, body = await api.call("PUT", path, json=_rate())
        assert status == 404
        assert set(body) == {"error", "details"}

    async def test_validation_names_fields(self, api: Api) -> None:
        """Given a bad prefix and a bad increment, 422 lists both fields."""
        status, body = await api.call("POST", "/api/v1/rates", json=_rate(prefix="12ab", increment_s=0))
        assert status == 422
        assert {detail["field"] for detail in body["details"]} == {"prefix", "increment_s"}

    async def test_plus_prefix_conflict(self, api: Api) -> None:
        """Given a rate for 49, creating +49 is a 409: '+' is ignored when matching."""
        await api.call("POST", "/api/v1/rates", json=_rate("49"))
        status, body = await api.call("POST", "/api/v1/rates", json=_rate("+49"))
        assert status == 409
        assert "already exists" in body["error"]

    async def test_number_money_accepted(self, api: Api) -> None:
        """Given price as a JSON number 0.05, it is stored as the string '0.05'."""
        status, created = await api.call("POST", "/api/v1/rates", json=_rate(price=0.05))
        assert status == 201
        assert created["price_per_minute"] == "0.05"

    async def test_import_then_export(self, api: Api) -> None:
        """Given a CSV import (sorted by prefix digits), the export returns the same text as text/csv."""
        status, body = await api.call("POST", "/api/v1/rates/import", data=CSV.encode())
        assert (status, body) == (200, {"imported": 2})
        async with api.client.get("/api/v1/rates.csv", headers=api.headers()) as response:
            assert response.status == 200
            assert response.content_type == "text/csv"
            assert await response.text() == CSV

    async def test_import_replaces_all(self, api: Api) -> None:
        """Given existing rates, an import replaces them all."""
        await api.call("POST", "/api/v1/rates", json=_rate("33"))
        await api.call("POST", "/api/v1/rates/import", data=CSV.encode())
        _, page = await api.call("GET", "/api/v1/rates")
        assert sorted(item["prefix"] for item in page["items"]) == ["+44", "1555"]

    async def test_bad_import_changes_nothing(self, api: Api) -> None:
        """Given a CSV with a bad line, 422 lists it by line number and the existing rates stay."""
        await api.call("POST", "/api/v1/rates", json=_rate("33"))
        status, body = await api.call("POST", "/api/v1/rates/import", data=(CSV + "44x,1,0,1,1,bad\r\n").encode())
        assert status == 422
        assert body["details"] == [{"line": 4, "message": "prefix: '44x' is not digits with an optional leading '+'"}]
        _, page = await api.call("GET", "/api/v1/rates")
        assert [item["prefix"] for item in page["items"]] == ["33"]

    async def test_needs_token(self, api: Api) -> None:
        """Given no bearer token, the rate routes answer 401."""
        assert (await api.call("GET", "/api/v1/rates.csv", token=None))[0] == 401
