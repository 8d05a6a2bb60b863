"""Call rates: CRUD, CSV export and CSV import (all rates replaced in one transaction).

A rate is `{"id", "prefix", "price_per_minute", "connection_fee", "minimum_s", "increment_s", "description"}`;
money travels as decimal strings ("0.05"), never floats. Validation is the CSV importer's (`rates_csv`), so the
API and the CSV accept and refuse the same values. Prefixes `+44` and `44` are the same prefix (409).
Every committed change calls `on_config_change()`, which reloads the tracker's rate table (`rate_table`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from agent.admin_api.errors import ApiError
from agent.admin_api.openapi import Schema
from agent.admin_api.payload import POSTMAN_LIMIT, paging, read_body, read_model
from agent.admin_api.rates_csv import format_rates_csv, parse_rates_csv, rate_from_fields
from agent.admin_api.routing import API_PREFIX, PAGING, Param, Route, deps, path_id
from agent.mapping.rating import Rate, RateTable, digits_of
from agent.store.records import RateRow

log = logging.getLogger("agent.admin_api.rates")

CSV_LIMIT = POSTMAN_LIMIT
_LINE = re.compile(r"line (\d+): (.*)")


class RateInput(BaseModel):
    """A rate as the API takes it; numbers are accepted for money but strings keep exact decimals."""

    model_config = ConfigDict(extra="forbid")

    prefix: str = Field(max_length=32)
    price_per_minute: str | int | float
    connection_fee: str | int | float = "0"
    minimum_s: int = 0
    increment_s: int = 1
    description: str = Field(default="", max_length=200)

    def fields(self) -> dict[str, str]:
        return {name: str(value) for name, value in self.model_dump().items()}


def rate_json(record: RateRow) -> dict[str, Any]:
    return {"id": record.id, "prefix": record.prefix, "price_per_minute": record.price_per_minute,
            "connection_fee": record.connection_fee, "minimum_s": record.minimum_s,
            "increment_s": record.increment_s, "description": record.description}


def to_record(rate: Rate, rate_id: int | None = None) -> RateRow:
    return RateRow(rate.prefix, str(rate.price_per_minute), str(rate.connection_fee), rate.minimum_s,
                      rate.increment_s, rate.description, rate_id)


def from_record(record: RateRow) -> Rate:
    return Rate(record.prefix, Decimal(record.price_per_minute), Decimal(record.connection_fee),
                record.minimum_s, record.increment_s, record.description)


def rate_table(records: Iterable[RateRow]) -> RateTable | None:
    """The tracker's rater from the stored rates; None when there are none, or when one is invalid (logged)."""
    try:
        rates = [from_record(record) for record in records]
        return RateTable(rates) if rates else None
    except (ValueError, InvalidOperation) as exc:
        log.warning("rate table not loaded: %s", exc)
        return None


def _validated(body: RateInput) -> Rate:
    rate, problems = rate_from_fields(body.fields())
    if rate is None:
        raise ApiError(422, "validation failed", [_field_detail(problem) for problem in problems])
    return rate


def _field_detail(problem: str) -> dict[str, Any]:
    field, _, message = problem.partition(": ")
    return {"field": field, "message": message} if message else {"message": problem}


async def _refuse_same_prefix(request: web.Request, rate: Rate, rate_id: int | None = None) -> None:
    for other in await deps(request).store.list_rates():
        if other.id != rate_id and digits_of(other.prefix) == rate.key:
            raise ApiError(409, f"a rate for prefix {other.prefix!r} already exists",
                           [{"field": "prefix", "id": other.id, "message": "'+' is ignored when matching"}])


async def list_rates(request: web.Request) -> web.Response:
    page = paging(request, default_per_page=100)
    needle = page.search.lower()
    rates = [r for r in await deps(request).store.list_rates()
             if needle in r.prefix.lower() or needle in r.description.lower()]
    items = [rate_json(r) for r in rates[page.offset:page.offset + page.per_page]]
    return web.json_response(page.envelope(items, len(rates)))


async def create_rate(request: web.Request) -> web.Response:
    api = deps(request)
    rate = _validated(await read_model(request, RateInput))
    await _refuse_same_prefix(request, rate)
    created = await api.store.create_rate(to_record(rate))
    api.on_config_change()
    return web.json_response(rate_json(created), status=201)


async def update_rate(request: web.Request) -> web.Response:
    api = deps(request)
    rate_id = path_id(request, "rate")
    rate = _validated(await read_model(request, RateInput))
    await _refuse_same_prefix(request, rate, rate_id)
    updated = await api.store.update_rate(to_record(rate, rate_id))
    api.on_config_change()
    return web.json_response(rate_json(updated))


async def delete_rate(request: web.Request) -> web.Response:
    api = deps(request)
    await api.store.delete_rate(path_id(request, "rate"))
    api.on_config_change()
    return web.Response(status=204)


async def export_rates(request: web.Request) -> web.Response:
    """The whole table as CSV, in the format the import takes back."""
    text = format_rates_csv(from_record(r) for r in await deps(request).store.list_rates())
    return web.Response(text=text, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="rates.csv"'})


async def import_rates(request: web.Request) -> web.Response:
    """Replace every rate with the CSV body's, or change nothing and list every bad line (422)."""
    api = deps(request)
    try:
        text = (await read_body(request, CSV_LIMIT)).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the CSV is not UTF-8 text") from None
    result = parse_rates_csv(text)
    if not result.ok:
        raise ApiError(422, "invalid CSV: nothing was imported", [_line_detail(error) for error in result.errors])
    stored = await api.store.replace_rates(to_record(rate) for rate in result.rates)
    api.on_config_change()
    return web.json_response({"imported": len(stored)})


def _line_detail(error: str) -> dict[str, Any]:
    match = _LINE.fullmatch(error)
    return {"line": int(match.group(1)), "message": match.group(2)} if match else {"message": error}


_RATE_FIELDS: dict[str, Schema] = {
    "prefix": {"type": "string", "description": "digits, optionally after '+'; the longest match wins"},
    "price_per_minute": {"type": "string", "description": "decimal, e.g. \"0.05\""},
    "connection_fee": {"type": "string", "description": "decimal added to every rated call"},
    "minimum_s": {"type": "integer"},
    "increment_s": {"type": "integer"},
    "description": {"type": "string"},
}
SCHEMAS: dict[str, Schema] = {
    "RateInput": {"type": "object", "required": ["prefix", "price_per_minute"], "properties": _RATE_FIELDS},
    "Rate": {"type": "object", "required": ["id", *_RATE_FIELDS],
             "properties": {"id": {"type": "integer"}, **_RATE_FIELDS}},
    "RatePage": {"type": "object", "required": ["items", "page", "per_page", "total"],
                 "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Rate"}},
                                "page": {"type": "integer"}, "per_page": {"type": "integer"},
                                "total": {"type": "integer"}}},
    "RateImport": {"type": "object", "required": ["imported"], "properties": {"imported": {"type": "integer"}}},
}

_ID = Param("id", "rate id", "integer", where="path")
_ONE = f"{API_PREFIX}/rates/{{id:\\d+}}"
ROUTES = (
    Route("GET", f"{API_PREFIX}/rates", list_rates, "List call rates", "rates", response="RatePage",
          params=PAGING, errors=(422,)),
    Route("POST", f"{API_PREFIX}/rates", create_rate, "Create a call rate", "rates", request="RateInput",
          response="Rate", status=201, errors=(409,)),
    Route("PUT", _ONE, update_rate, "Replace a call rate", "rates", request="RateInput", response="Rate",
          params=(_ID,), errors=(404, 409)),
    Route("DELETE", _ONE, delete_rate, "Delete a call rate", "rates", status=204, params=(_ID,), errors=(404,)),
    Route("GET", f"{API_PREFIX}/rates.csv", export_rates, "Export the rates as CSV", "rates",
          response="text/csv"),
    Route("POST", f"{API_PREFIX}/rates/import", import_rates, "Replace all rates with a CSV file", "rates",
          request="text/csv", response="RateImport"),
)
