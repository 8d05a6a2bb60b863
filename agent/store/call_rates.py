"""The rate table of call rating: one row per number prefix."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import aiosqlite

from agent.store.database import Tables
from agent.store.records import Conflict, NotFound, RateRow


def _rate(row: aiosqlite.Row) -> RateRow:
    return RateRow(
        id=row["id"], prefix=row["prefix"], price_per_minute=row["price_per_minute"],
        connection_fee=row["connection_fee"], minimum_s=row["minimum_s"], increment_s=row["increment_s"],
        description=row["description"],
    )


def _taken(rate: RateRow) -> str:
    return f"a rate for prefix {rate.prefix!r} already exists"


class CallRateTable(Tables):
    """Table `rates`."""

    async def list_rates(self) -> list[RateRow]:
        return [_rate(row) for row in await self._db.rows("SELECT * FROM rates ORDER BY prefix")]

    async def create_rate(self, rate: RateRow) -> RateRow:
        async with self._db.write() as db:
            rate_id = await _insert_rate(db, rate)
        return await self._get_rate(rate_id)

    async def replace_rates(self, rates: Iterable[RateRow]) -> list[RateRow]:
        """Replace the whole rate table in one transaction."""
        async with self._db.write() as db:
            await db.execute("DELETE FROM rates")
            for rate in rates:
                await _insert_rate(db, rate)
        return await self.list_rates()

    async def update_rate(self, rate: RateRow) -> RateRow:
        await self._db.change_row(
            "UPDATE rates SET prefix = ?, price_per_minute = ?, connection_fee = ?, minimum_s = ?, increment_s = ?, "
            "description = ? WHERE id = ?",
            (rate.prefix, rate.price_per_minute, rate.connection_fee, rate.minimum_s, rate.increment_s,
             rate.description, rate.id),
            missing=f"rate {rate.id} does not exist", taken=_taken(rate))
        return await self._get_rate(int(rate.id or 0))

    async def delete_rate(self, rate_id: int) -> None:
        await self._db.change_row("DELETE FROM rates WHERE id = ?", (rate_id,),
                                  missing=f"rate {rate_id} does not exist")

    async def _get_rate(self, rate_id: int) -> RateRow:
        row = await self._db.row("SELECT * FROM rates WHERE id = ?", (rate_id,))
        if row is None:
            raise NotFound(f"rate {rate_id} does not exist")
        return _rate(row)


async def _insert_rate(db: aiosqlite.Connection, rate: RateRow) -> int:
    try:
        cursor = await db.execute(
            "INSERT INTO rates (prefix, price_per_minute, connection_fee, minimum_s, increment_s, description) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (rate.prefix, rate.price_per_minute, rate.connection_fee, rate.minimum_s, rate.increment_s,
             rate.description),
        )
    except sqlite3.IntegrityError as exc:
        raise Conflict(_taken(rate)) from exc
    return int(cursor.lastrowid or 0)
