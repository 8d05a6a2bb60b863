"""Outbox rows as tests look at them: read from the database file on a connection of their own (so they see
only what the store committed)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

from agent.store.facade import Store
from agent.store.records import Delivery, delivery_from_row

EVERY_ROW = 1_000_000


def _select(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    with closing(sqlite3.connect(store.path)) as db:
        db.row_factory = sqlite3.Row
        return db.execute(sql, params).fetchall()


def outbox_counts(store: Store) -> dict[str, int]:
    """How many outbox rows are in each state (states with none are absent)."""
    return {row["state"]: row["n"] for row in _select(store, "SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")}


def delivery(store: Store, delivery_id: int) -> Delivery:
    """The outbox row `delivery_id` as stored now."""
    (row,) = _select(store, "SELECT * FROM outbox WHERE id = ?", (delivery_id,))
    return delivery_from_row(row)


async def pending(store: Store) -> list[Delivery]:
    """Every pending delivery, in emission order."""
    return await store.pending_after(0, EVERY_ROW)

