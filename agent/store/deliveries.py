"""The outbox: one row per (system event, action) to deliver, numbered in emission order, and the outcome of
each attempt written with its activity row (docs/delivery.md)."""

# ruff: noqa: S608  (SQL is built from constant fragments only; every value is a bound parameter)

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from agent.store.activitylog import ACTIVITY_COLUMNS, activity_values
from agent.store.database import Database, Tables, insert_rows
from agent.store.records import Delivery, NewActivity, NewDelivery, OutboxState, delivery_from_row, request_to_json

ENQUEUE_CHUNK = 500
# s a settle waits for others to join its transaction: fewer commits under load, and the outbox INSERT of the
# next event does not queue behind the outcome of the last delivery on the one database thread
SETTLE_GATHER = 0.003
SETTLE_CHUNK = 500  # settles per statement (14 bound values each, well under SQLite's 32766)

_OUTBOX_COLUMNS = ("id, seq, event_id, event, call_id, action_id, action_name, request, profile, attempts, "
                   "next_attempt_at, expires_at, state, created_at")
_NEW_COLUMNS = ("seq", "event_id", "event", "call_id", "action_id", "action_name", "request", "profile",
                "next_attempt_at", "expires_at", "created_at")

# Settles go in as rows of a TEMP view whose INSTEAD OF trigger updates the outbox row and adds the activity row
# (none when `action` is NULL): a batch is one INSERT statement, so one transaction and ONE round trip to the
# database thread instead of four (BEGIN, UPDATE, INSERT, COMMIT). Each round trip is a thread hand-off that a
# loaded machine can delay by milliseconds, and the store lock (which the next enqueue waits for) was held
# across all four. Per connection, created at open: no schema change.
_SETTLE_COLUMNS = ("id", "state", "attempts", "next_attempt_at", "done_at", *ACTIVITY_COLUMNS)
SETTLE_VIEW = (
    "CREATE TEMP VIEW IF NOT EXISTS settle AS SELECT "
    + ", ".join(f"NULL AS {column}" for column in _SETTLE_COLUMNS) + " WHERE 0",
    "CREATE TEMP TRIGGER IF NOT EXISTS settle_row INSTEAD OF INSERT ON settle BEGIN "
    "UPDATE outbox SET state = NEW.state, attempts = NEW.attempts, next_attempt_at = NEW.next_attempt_at, "
    "done_at = NEW.done_at WHERE id = NEW.id; "
    f"INSERT INTO activity ({', '.join(ACTIVITY_COLUMNS)}) "
    f"SELECT {', '.join('NEW.' + column for column in ACTIVITY_COLUMNS)} WHERE NEW.action IS NOT NULL; END",
)
_NO_ACTIVITY = (None,) * len(ACTIVITY_COLUMNS)


async def _insert_outbox(db: aiosqlite.Connection, values: list[tuple[Any, ...]]) -> int:
    return await insert_rows(db, "outbox", _NEW_COLUMNS, values)


async def _insert_settles(db: aiosqlite.Connection, values: list[tuple[Any, ...]]) -> int:
    return await insert_rows(db, "settle", _SETTLE_COLUMNS, values)


@dataclass(frozen=True, slots=True)
class _Settle:
    values: tuple[Any, ...]  # of _SETTLE_COLUMNS
    future: asyncio.Future[None]


class GroupCommit:
    """Settles that arrive within SETTLE_GATHER, or while one batch is being written, are committed together in
    one transaction; each caller returns once its own outcome is committed (or with the batch's error)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._waiting: list[_Settle] = []
        self._flushing = False

    async def settle(self, values: tuple[Any, ...]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Settle(values, future))
        if not self._flushing:
            await self._flush()
        await future

    async def _flush(self) -> None:
        self._flushing = True
        batch: list[_Settle] = []
        try:
            await asyncio.sleep(SETTLE_GATHER)
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    await self._db.chunked(_insert_settles, [item.values for item in batch], SETTLE_CHUNK)
                except Exception as exc:
                    for item in batch:
                        item.future.set_exception(exc)
                else:
                    for item in batch:
                        item.future.set_result(None)
        finally:
            self._flushing = False
            for item in [*batch, *self._waiting]:
                if not item.future.done():
                    item.future.cancel()
            self._waiting = []


class OutboxTable(Tables):
    """Table `outbox` (with the activity row of each settled attempt). `_seq` is the last number given out."""

    _seq: int
    _settles: GroupCommit

    @staticmethod
    async def last_seq(db: Database) -> int:
        return await db.count("SELECT MAX(seq) FROM outbox")

    async def enqueue(self, rows: Sequence[NewDelivery]) -> list[Delivery]:
        """Store deliveries atomically, numbered in the given (emission) order.

        Up to ENQUEUE_CHUNK rows go in as one multi-row INSERT (one statement is one transaction: a single
        round trip to the database thread); more are chunked inside an explicit transaction.
        """
        if not rows:
            return []
        first = self._seq + 1
        self._seq += len(rows)
        values = [(first + i, r.event_id, r.event, r.call_id, r.action_id, r.action_name, request_to_json(r.request),
                   r.profile, r.next_attempt_at, r.expires_at, r.created_at) for i, r in enumerate(rows)]
        last = await self._db.chunked(_insert_outbox, values, ENQUEUE_CHUNK)
        return [Delivery(last - len(rows) + 1 + i, first + i, r.event_id, r.event, r.call_id, r.action_id,
                         r.action_name, r.request, r.profile, 0, r.next_attempt_at, r.expires_at, "pending",
                         r.created_at) for i, r in enumerate(rows)]

    async def pending_after(self, seq: int, limit: int) -> list[Delivery]:
        """Up to `limit` pending deliveries numbered after `seq`, in emission order: the sender's next page."""
        rows = await self._db.rows(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE state = 'pending' AND seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
        return [delivery_from_row(row) for row in rows]

    async def pending_count(self) -> int:
        return await self._db.count("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")

    async def settle(
        self, delivery_id: int, *, state: OutboxState, attempts: int, next_attempt_at: float, now: float,
        activity: NewActivity | None = None,
    ) -> None:
        """Record an attempt's outcome on the outbox row and its activity row, in one transaction (group commit:
        see GroupCommit); returns once it is committed."""
        done_at = None if state == "pending" else now
        await self._settles.settle((delivery_id, state, attempts, next_attempt_at, done_at,
                                    *(_NO_ACTIVITY if activity is None else activity_values(activity))))

    async def purge_outbox(self, before: float) -> int:
        """Forget finished deliveries done before `before`; pending ones stay."""
        async with self._db.write() as db:
            cursor = await db.execute("DELETE FROM outbox WHERE state != 'pending' AND done_at < ?", (before,))
            return cursor.rowcount

    async def completed_calls(self, call_ids: Iterable[str]) -> set[str]:
        """Those of `call_ids` whose completion event is in the outbox (the tracker log's restore asks)."""
        rows = await self._db.rows(
            "SELECT DISTINCT call_id FROM outbox WHERE event IN ('call_answered', 'call_unanswered') "
            "AND call_id IN (SELECT value FROM json_each(?))", (json.dumps(sorted(call_ids)),))
        return {str(row[0]) for row in rows}
