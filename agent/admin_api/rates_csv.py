"""Rate tables as CSV text: import with one plain error per bad line, export that imports back exactly.

Pure (text in, text out). Columns: `prefix,price_per_minute,connection_fee,minimum_s,increment_s,description`.
The header is required; `description` may be left out. Money is written as plain decimals (`0.05`, never
`5E-2`) and kept exactly as typed, so an import followed by an export returns the same values.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from agent.mapping.rating import Rate, rate_problems

COLUMNS = ("prefix", "price_per_minute", "connection_fee", "minimum_s", "increment_s", "description")
REQUIRED = frozenset(COLUMNS[:5])
MAX_ROWS = 100_000
_MONEY = re.compile(r"\d{1,12}(\.\d{1,12})?")
_SECONDS = re.compile(r"\d{1,7}")


@dataclass(frozen=True, slots=True)
class CsvImport:
    """The rates read from a CSV text, and one readable line per problem (empty when all is well)."""

    rates: tuple[Rate, ...]
    errors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_rates_csv(text: str) -> CsvImport:
    """Read a rate table; every bad line is reported as `line N: column: why`, nothing is half-imported."""
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    if not rows or not any(cell.strip() for cell in rows[0]):
        return CsvImport((), ("line 1: the header is missing; expected: " + ",".join(COLUMNS),))
    header = [cell.strip().lower() for cell in rows[0]]
    header_errors = _header_problems(header)
    if header_errors:
        return CsvImport((), tuple(header_errors))
    return _read_rows(header, rows[1:])


def _header_problems(header: list[str]) -> list[str]:
    problems = [f"line 1: unknown column {name!r}" for name in header if name not in COLUMNS]
    problems += [f"line 1: column {name!r} appears twice" for name in set(header) if header.count(name) > 1]
    problems += [f"line 1: column {name!r} is missing" for name in COLUMNS[:5] if name not in header]
    return problems


def _read_rows(header: list[str], rows: list[list[str]]) -> CsvImport:
    rates: list[Rate] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(rates) + len(errors) >= MAX_ROWS:
            errors.append(f"line {line}: more than {MAX_ROWS} rates")
            break
        rate, problems = _row_to_rate(header, row)
        if rate is not None and rate.key in seen:
            problems = [f"prefix: {rate.prefix!r} is already on line {seen[rate.key]}"]
        if rate is None or problems:
            errors += [f"line {line}: {problem}" for problem in problems]
            continue
        seen[rate.key] = line
        rates.append(rate)
    return CsvImport(tuple(rates), tuple(errors))


def _row_to_rate(header: list[str], row: list[str]) -> tuple[Rate | None, list[str]]:
    if len(row) != len(header):
        return None, [f"expected {len(header)} fields, found {len(row)}"]
    return rate_from_fields(dict(zip(header, row, strict=True)))


def rate_from_fields(fields: Mapping[str, str]) -> tuple[Rate | None, list[str]]:
    """Build a Rate from text fields (a CSV row or an admin API body); on failure, every problem by column.

    Empty `connection_fee` means 0, empty `minimum_s` 0, empty `increment_s` 1. A field that does not parse
    is replaced by that harmless default while the other fields are checked, so all problems show at once.
    """
    problems: list[str] = []
    money = {name: _money(fields, name, problems) for name in ("price_per_minute", "connection_fee")}
    seconds = {name: _seconds(fields, name, problems) for name in ("minimum_s", "increment_s")}
    prefix = fields.get("prefix", "").strip()
    price, fee = money["price_per_minute"], money["connection_fee"]
    minimum, increment = seconds["minimum_s"], seconds["increment_s"]
    problems += rate_problems(prefix, price, fee, minimum, increment)
    if problems:
        return None, problems
    return Rate(prefix, price, fee, minimum, increment, fields.get("description", "").strip()), []


def _money(fields: Mapping[str, str], name: str, problems: list[str]) -> Decimal:
    text = fields.get(name, "").strip()
    if name == "connection_fee" and not text:
        return Decimal(0)
    if not _MONEY.fullmatch(text):
        problems.append(f"{name}: {text!r} is not a plain decimal number such as 0.05")
        return Decimal(0)
    return Decimal(text)


def _seconds(fields: Mapping[str, str], name: str, problems: list[str]) -> int:
    text = fields.get(name, "").strip()
    default = 0 if name == "minimum_s" else 1
    if not text:
        return default
    if not _SECONDS.fullmatch(text):
        problems.append(f"{name}: {text!r} is not a whole number of seconds")
        return default
    return int(text)


def format_rates_csv(rates: Iterable[Rate]) -> str:
    """The rate table as CSV text with the header line, rates sorted by prefix."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for rate in sorted(rates, key=lambda item: (item.key, item.prefix)):
        fee, minimum, increment = rate.connection_fee, rate.minimum_s, rate.increment_s
        writer.writerow([rate.prefix, rate.price_per_minute, fee, minimum, increment, rate.description])
    return out.getvalue()
