"""All SQL of the agent: one aiosqlite connection (the only writer), small transaction methods.

Every write runs in one `BEGIN IMMEDIATE` transaction under a lock, so concurrent coroutines never interleave
half-done writes on the shared connection, and nothing is half-saved on error. Reads need no lock.
WAL with synchronous=NORMAL: a committed row survives a killed process (not necessarily a power cut).
"""

# ruff: noqa: S608  (SQL is built from constant fragments only; every value is a bound parameter)

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from agent.mapping.catalog import ALL_PARAMETERS
from agent.store.checkpoint import Checkpointer
from agent.store.migrations import migrate
from agent.store.model import Action, Parameter
from agent.store.records import (
    Activity,
    Conflict,
    Delivery,
    EventRecord,
    NewActivity,
    NewDelivery,
    NotFound,
    OutboxState,
    Rate,
    StoreError,
    action_from_row,
    action_parts_to_json,
    request_from_json,
    request_to_json,
)

__all__ = [
    "Activity", "Conflict", "Delivery", "EventRecord", "NewActivity", "NewDelivery", "NotFound", "Rate",
    "Store", "StoreError", "StoreSettings",
]

MAX_PER_PAGE = 500
BUSY_TIMEOUT = 5.0  # seconds a write waits for another process's lock before failing with "database is locked"
ENQUEUE_CHUNK = 500
# s a settle waits for others to join its transaction: fewer commits under load, and the outbox INSERT of the
# next event does not queue behind the outcome of the last delivery on the one database thread
SETTLE_GATHER = 0.003
LOG_CHUNK = 500  # tracker log frames per INSERT statement

LogFrame = tuple[str, float, bytes]  # (call id, receive time, frame): one row of the tracker log
_ACTION_COLUMNS = "id, name, description, method, url, timeout_s, parts"
_OUTBOX_COLUMNS = ("id, seq, event_id, event, call_id, action_id, action_name, request, profile, attempts, "
                   "next_attempt_at, expires_at, state, created_at")


_INSERT_ACTIVITY = ("INSERT INTO activity (action, action_id, event, call_id, attempt, status, message, duration_ms, "
                    "date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _activity_values(a: NewActivity) -> tuple[Any, ...]:
    return (a.action, a.action_id, a.event, a.call_id, a.attempt, a.status, a.message, a.duration_ms, a.date)


# Settles go in as rows of a TEMP view whose INSTEAD OF trigger updates the outbox row and adds the activity row
# (none when `action` is NULL): a batch is one INSERT statement, so one transaction and ONE round trip to the
# database thread instead of four (BEGIN, UPDATE, INSERT, COMMIT). Each round trip is a thread hand-off that a
# loaded machine can delay by milliseconds, and the store lock (which the next enqueue waits for) was held
# across all four. Per connection, created at open: no schema change.
_SETTLE_COLUMNS = ("id", "state", "attempts", "next_attempt_at", "done_at", "action", "action_id", "event",
                   "call_id", "attempt", "status", "message", "duration_ms", "date")
_SETTLE_VIEW = (
    "CREATE TEMP VIEW IF NOT EXISTS settle AS SELECT "
    + ", ".join(f"NULL AS {column}" for column in _SETTLE_COLUMNS) + " WHERE 0",
    "CREATE TEMP TRIGGER IF NOT EXISTS settle_row INSTEAD OF INSERT ON settle BEGIN "
    "UPDATE outbox SET state = NEW.state, attempts = NEW.attempts, next_attempt_at = NEW.next_attempt_at, "
    "done_at = NEW.done_at WHERE id = NEW.id; "
    "INSERT INTO activity (action, action_id, event, call_id, attempt, status, message, duration_ms, date) "
    "SELECT NEW.action, NEW.action_id, NEW.event, NEW.call_id, NEW.attempt, NEW.status, NEW.message, "
    "NEW.duration_ms, NEW.date WHERE NEW.action IS NOT NULL; END",
)
SETTLE_CHUNK = 500  # settles per statement (14 bound values each, well under SQLite's 32766)
_NO_ACTIVITY = (None,) * 9


@dataclass(frozen=True, slots=True)
class _Settle:
    outbox: tuple[Any, ...]
    activity: NewActivity | None
    future: asyncio.Future[None]


@dataclass(frozen=True, slots=True)
class StoreSettings:
    actions_enabled: bool


def _page(page: int, per_page: int) -> tuple[int, int]:
    size = min(max(per_page, 1), MAX_PER_PAGE)
    return size, (max(page, 1) - 1) * size


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row["id"], seq=row["seq"], event_id=row["event_id"], event=row["event"], call_id=row["call_id"],
        action_id=row["action_id"], action_name=row["action_name"], request=request_from_json(row["request"]),
        profile=row["profile"], attempts=row["attempts"], next_attempt_at=row["next_attempt_at"],
        expires_at=row["expires_at"], state=row["state"], created_at=row["created_at"],
    )


def _activity(row: Any) -> Activity:
    return Activity(
        id=row["id"], action=row["action"], action_id=row["action_id"], event=row["event"], call_id=row["call_id"],
        attempt=row["attempt"], status=row["status"], message=row["message"], duration_ms=row["duration_ms"],
        date=row["date"],
    )


def _rate(row: Any) -> Rate:
    return Rate(
        id=row["id"], prefix=row["prefix"], price_per_minute=row["price_per_minute"],
        connection_fee=row["connection_fee"], minimum_s=row["minimum_s"], increment_s=row["increment_s"],
        description=row["description"],
    )


class Store:
    """The agent's SQLite database. Build with `await Store.open(path)`; `await close()` at the end."""

    def __init__(self, db: aiosqlite.Connection, last_seq: int = 0, checkpointer: Checkpointer | None = None) -> None:
        self._db = db
        self._checkpointer = checkpointer
        self._lock = asyncio.Lock()
        self._seq = last_seq
        self._settles: list[_Settle] = []
        self._flushing = False

    @classmethod
    async def open(cls, path: Path | str, *, busy_timeout: float = BUSY_TIMEOUT) -> Store:
        """Open (and migrate) the database; a write waits up to `busy_timeout` s for another process's lock."""
        db = await aiosqlite.connect(str(path), isolation_level=None)
        db.row_factory = aiosqlite.Row
        for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON",
                       f"busy_timeout = {round(busy_timeout * 1000)}", "wal_autocheckpoint = 0"):
            await db.execute(f"PRAGMA {pragma}")
        await migrate(db)
        for statement in _SETTLE_VIEW:
            await db.execute(statement)
        async with db.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox") as cursor:
            row = await cursor.fetchone()
        return cls(db, int(row[0]) if row else 0, await Checkpointer.open(path))

    async def close(self) -> None:
        async with self._lock:
            if self._checkpointer is not None:
                await self._checkpointer.close()
            await self._db.close()

    def _committed(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.written()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One transaction. A failed COMMIT (disk full, locked) is rolled back too, unless SQLite already did:
        the connection is never left inside a transaction, so the next write can begin."""
        async with self._lock:
            if self._db.in_transaction:  # left open by a ROLLBACK that failed too
                await self._db.execute("ROLLBACK")
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                await self._db.execute("COMMIT")
                self._committed()
            except BaseException:
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        await self._db.execute("ROLLBACK")
                raise

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self._db.execute(sql, params) as cursor:
            return await cursor.fetchone()

    # events and the global switch

    async def list_events(self) -> list[EventRecord]:
        rows = await self._all("SELECT key, name, description, active FROM events ORDER BY name")
        bound = await self._all("SELECT event_key, action_id FROM event_actions ORDER BY position, action_id")
        ids: dict[str, list[int]] = {}
        for link in bound:
            ids.setdefault(link["event_key"], []).append(link["action_id"])
        return [EventRecord(r["key"], r["name"], r["description"], bool(r["active"]), tuple(ids.get(r["key"], ())))
                for r in rows]

    async def get_event(self, key: str) -> EventRecord:
        for event in await self.list_events():
            if event.key == key:
                return event
        raise NotFound(f"event {key!r} does not exist")

    async def update_event(
        self, key: str, *, active: bool | None = None, description: str | None = None,
        action_ids: Sequence[int] | None = None,
    ) -> EventRecord:
        """Change an event's flag, description or bound actions (replaced as a whole, in the given order)."""
        async with self._write() as db:
            if await self._one("SELECT 1 FROM events WHERE key = ?", (key,)) is None:
                raise NotFound(f"event {key!r} does not exist")
            if active is not None:
                await db.execute("UPDATE events SET active = ? WHERE key = ?", (int(active), key))
            if description is not None:
                await db.execute("UPDATE events SET description = ? WHERE key = ?", (description, key))
            if action_ids is not None:
                await self._bind(db, key, action_ids)
        return await self.get_event(key)

    async def _bind(self, db: aiosqlite.Connection, key: str, action_ids: Sequence[int]) -> None:
        unique = list(dict.fromkeys(action_ids))
        for action_id in unique:
            if await self._one("SELECT 1 FROM actions WHERE id = ?", (action_id,)) is None:
                raise NotFound(f"action {action_id} does not exist")
        await db.execute("DELETE FROM event_actions WHERE event_key = ?", (key,))
        await db.executemany(
            "INSERT INTO event_actions (event_key, action_id, position) VALUES (?, ?, ?)",
            [(key, action_id, position) for position, action_id in enumerate(unique)],
        )

    async def get_settings(self) -> StoreSettings:
        row = await self._one("SELECT actions_enabled FROM settings WHERE id = 1")
        return StoreSettings(actions_enabled=bool(row["actions_enabled"]))

    async def set_actions_enabled(self, enabled: bool) -> StoreSettings:
        async with self._write() as db:
            await db.execute("UPDATE settings SET actions_enabled = ? WHERE id = 1", (int(enabled),))
        return StoreSettings(actions_enabled=enabled)

    async def bindings_for(self, event_key: str) -> list[Action]:
        """The actions bound to an event, in binding order; none when the event is inactive."""
        rows = await self._all(
            f"SELECT {', '.join('a.' + c for c in _ACTION_COLUMNS.split(', '))} FROM event_actions ea "
            "JOIN events e ON e.key = ea.event_key JOIN actions a ON a.id = ea.action_id "
            "WHERE ea.event_key = ? AND e.active = 1 ORDER BY ea.position, a.id",
            (event_key,),
        )
        return [action_from_row(row) for row in rows]

    # actions

    async def list_actions(self, search: str = "", page: int = 1, per_page: int = 50) -> tuple[list[Action], int]:
        """Actions whose name, description or URL contains `search`, by name; and how many match in all."""
        where = "WHERE name LIKE ?1 ESCAPE '\\' OR description LIKE ?1 ESCAPE '\\' OR url LIKE ?1 ESCAPE '\\'"
        size, offset = _page(page, per_page)
        total = await self._one(f"SELECT COUNT(*) AS n FROM actions {where}", (_like(search),))
        rows = await self._all(
            f"SELECT {_ACTION_COLUMNS} FROM actions {where} ORDER BY name COLLATE NOCASE, id LIMIT ?2 OFFSET ?3",
            (_like(search), size, offset),
        )
        return [action_from_row(row) for row in rows], int(total["n"])

    async def all_actions(self) -> list[Action]:
        rows = await self._all(f"SELECT {_ACTION_COLUMNS} FROM actions ORDER BY id")
        return [action_from_row(row) for row in rows]

    async def get_action(self, action_id: int) -> Action:
        row = await self._one(f"SELECT {_ACTION_COLUMNS} FROM actions WHERE id = ?", (action_id,))
        if row is None:
            raise NotFound(f"action {action_id} does not exist")
        return action_from_row(row)

    async def create_action(self, action: Action) -> Action:
        """Store a new action (its `id` is ignored); Conflict when the name is taken."""
        return (await self.create_actions([action]))[0]

    async def create_actions(self, actions: Iterable[Action]) -> list[Action]:
        """Store several actions in one transaction (all or none)."""
        return await self.import_collection(actions, ())

    async def import_collection(self, actions: Iterable[Action], parameters: Iterable[Parameter]) -> list[Action]:
        """Store new custom parameters and actions in one transaction; returns the stored actions.

        All or nothing: a Conflict on any parameter tag (taken, or a system one) or action name rolls back every
        row, so no reader ever sees part of a Postman import.
        """
        ids: list[int] = []
        async with self._write() as db:
            for parameter in parameters:
                await self._insert_parameter(db, parameter)
            for action in actions:
                ids.append(await self._insert_action(db, action))
        return [await self.get_action(action_id) for action_id in ids]

    async def _insert_action(self, db: aiosqlite.Connection, action: Action) -> int:
        try:
            cursor = await db.execute(
                "INSERT INTO actions (name, description, method, url, timeout_s, parts) VALUES (?, ?, ?, ?, ?, ?)",
                (action.name, action.description, action.method, action.url, action.timeout_s,
                 action_parts_to_json(action)),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"an action named {action.name!r} already exists") from exc
        return int(cursor.lastrowid or 0)

    async def update_action(self, action: Action) -> Action:
        """Replace the stored action with id `action.id`; NotFound / Conflict (name taken)."""
        if action.id is None:
            raise NotFound("action without an id")
        async with self._write() as db:
            try:
                cursor = await db.execute(
                    "UPDATE actions SET name = ?, description = ?, method = ?, url = ?, timeout_s = ?, parts = ? "
                    "WHERE id = ?",
                    (action.name, action.description, action.method, action.url, action.timeout_s,
                     action_parts_to_json(action), action.id),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"an action named {action.name!r} already exists") from exc
            if cursor.rowcount == 0:
                raise NotFound(f"action {action.id} does not exist")
        return await self.get_action(action.id)

    async def delete_action(self, action_id: int) -> None:
        """Delete an action and unbind it from every event; its pending deliveries still go out."""
        async with self._write() as db:
            cursor = await db.execute("DELETE FROM actions WHERE id = ?", (action_id,))
            if cursor.rowcount == 0:
                raise NotFound(f"action {action_id} does not exist")

    async def action_events(self) -> dict[int, tuple[str, ...]]:
        """For every bound action id, the keys of the events it is bound to (sorted)."""
        rows = await self._all("SELECT action_id, event_key FROM event_actions ORDER BY event_key")
        events: dict[int, list[str]] = {}
        for row in rows:
            events.setdefault(row["action_id"], []).append(row["event_key"])
        return {action_id: tuple(keys) for action_id, keys in events.items()}

    async def action_event_counts(self) -> dict[int, int]:
        return {action_id: len(keys) for action_id, keys in (await self.action_events()).items()}

    # custom parameters

    async def list_parameters(self) -> list[Parameter]:
        rows = await self._all("SELECT tag, value, secret FROM parameters ORDER BY tag")
        return [Parameter(row["tag"], row["value"], bool(row["secret"])) for row in rows]

    async def parameter_values(self) -> dict[str, str]:
        return {p.tag: p.value for p in await self.list_parameters()}

    async def get_parameter(self, tag: str) -> Parameter:
        row = await self._one("SELECT tag, value, secret FROM parameters WHERE tag = ?", (tag,))
        if row is None:
            raise NotFound(f"parameter {tag!r} does not exist")
        return Parameter(row["tag"], row["value"], bool(row["secret"]))

    async def create_parameter(self, parameter: Parameter) -> Parameter:
        """Conflict when the tag exists or is a system parameter."""
        async with self._write() as db:
            await self._insert_parameter(db, parameter)
        return parameter

    @staticmethod
    async def _insert_parameter(db: aiosqlite.Connection, parameter: Parameter) -> None:
        if parameter.tag in ALL_PARAMETERS:
            raise Conflict(f"{parameter.tag!r} is a system parameter")
        try:
            await db.execute("INSERT INTO parameters (tag, value, secret) VALUES (?, ?, ?)",
                             (parameter.tag, parameter.value, int(parameter.secret)))
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"parameter {parameter.tag!r} already exists") from exc

    async def update_parameter(self, parameter: Parameter) -> Parameter:
        async with self._write() as db:
            cursor = await db.execute("UPDATE parameters SET value = ?, secret = ? WHERE tag = ?",
                                      (parameter.value, int(parameter.secret), parameter.tag))
            if cursor.rowcount == 0:
                raise NotFound(f"parameter {parameter.tag!r} does not exist")
        return parameter

    async def delete_parameter(self, tag: str) -> None:
        async with self._write() as db:
            cursor = await db.execute("DELETE FROM parameters WHERE tag = ?", (tag,))
            if cursor.rowcount == 0:
                raise NotFound(f"parameter {tag!r} does not exist")

    # rates (call rating)

    async def list_rates(self) -> list[Rate]:
        return [_rate(row) for row in await self._all("SELECT * FROM rates ORDER BY prefix")]

    async def create_rate(self, rate: Rate) -> Rate:
        async with self._write() as db:
            rate_id = await self._insert_rate(db, rate)
        return await self._get_rate(rate_id)

    async def replace_rates(self, rates: Iterable[Rate]) -> list[Rate]:
        """Replace the whole rate table in one transaction."""
        async with self._write() as db:
            await db.execute("DELETE FROM rates")
            for rate in rates:
                await self._insert_rate(db, rate)
        return await self.list_rates()

    async def update_rate(self, rate: Rate) -> Rate:
        async with self._write() as db:
            try:
                cursor = await db.execute(
                    "UPDATE rates SET prefix = ?, price_per_minute = ?, connection_fee = ?, minimum_s = ?, "
                    "increment_s = ?, description = ? WHERE id = ?",
                    (rate.prefix, rate.price_per_minute, rate.connection_fee, rate.minimum_s, rate.increment_s,
                     rate.description, rate.id),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"a rate for prefix {rate.prefix!r} already exists") from exc
            if cursor.rowcount == 0:
                raise NotFound(f"rate {rate.id} does not exist")
        return await self._get_rate(int(rate.id or 0))

    async def delete_rate(self, rate_id: int) -> None:
        async with self._write() as db:
            cursor = await db.execute("DELETE FROM rates WHERE id = ?", (rate_id,))
            if cursor.rowcount == 0:
                raise NotFound(f"rate {rate_id} does not exist")

    async def _get_rate(self, rate_id: int) -> Rate:
        row = await self._one("SELECT * FROM rates WHERE id = ?", (rate_id,))
        if row is None:
            raise NotFound(f"rate {rate_id} does not exist")
        return _rate(row)

    async def _insert_rate(self, db: aiosqlite.Connection, rate: Rate) -> int:
        try:
            cursor = await db.execute(
                "INSERT INTO rates (prefix, price_per_minute, connection_fee, minimum_s, increment_s, description) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (rate.prefix, rate.price_per_minute, rate.connection_fee, rate.minimum_s, rate.increment_s,
                 rate.description),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"a rate for prefix {rate.prefix!r} already exists") from exc
        return int(cursor.lastrowid or 0)

    # outbox

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
        if len(rows) <= ENQUEUE_CHUNK:
            async with self._lock:
                last = await self._insert_outbox(self._db, values)
                self._committed()
        else:
            async with self._write() as db:
                for start in range(0, len(values), ENQUEUE_CHUNK):
                    last = await self._insert_outbox(db, values[start:start + ENQUEUE_CHUNK])
        return [Delivery(last - len(rows) + 1 + i, first + i, r.event_id, r.event, r.call_id, r.action_id,
                         r.action_name, r.request, r.profile, 0, r.next_attempt_at, r.expires_at, "pending",
                         r.created_at) for i, r in enumerate(rows)]

    @staticmethod
    async def _insert_outbox(db: aiosqlite.Connection, values: list[tuple[Any, ...]]) -> int:
        """Insert rows with one statement; consecutive ids (one writer, AUTOINCREMENT); returns the last id."""
        placeholders = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(values))
        cursor = await db.execute(
            "INSERT INTO outbox (seq, event_id, event, call_id, action_id, action_name, request, profile, "
            f"next_attempt_at, expires_at, created_at) VALUES {placeholders}",
            [item for row in values for item in row],
        )
        return int(cursor.lastrowid or 0)

    async def pending_outbox(self) -> list[Delivery]:
        """Every pending delivery, in emission order (used to resume after a restart)."""
        rows = await self._all(f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE state = 'pending' ORDER BY seq")
        return [_delivery(row) for row in rows]

    async def pending_after(self, seq: int, limit: int) -> list[Delivery]:
        """Up to `limit` pending deliveries numbered after `seq`, in emission order: the sender's next page."""
        rows = await self._all(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE state = 'pending' AND seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
        return [_delivery(row) for row in rows]

    async def due_outbox(self, now: float, limit: int = 100) -> list[Delivery]:
        """Pending deliveries due by `now` that no earlier pending row of the same call and action holds back."""
        rows = await self._all(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox o WHERE state = 'pending' AND next_attempt_at <= ? "
            "AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.state = 'pending' AND p.call_id = o.call_id "
            "AND p.action_id = o.action_id AND p.seq < o.seq) ORDER BY seq LIMIT ?",
            (now, limit),
        )
        return [_delivery(row) for row in rows]

    async def get_delivery(self, delivery_id: int) -> Delivery:
        row = await self._one(f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE id = ?", (delivery_id,))
        if row is None:
            raise NotFound(f"delivery {delivery_id} does not exist")
        return _delivery(row)

    async def settle(
        self, delivery_id: int, *, state: OutboxState, attempts: int, next_attempt_at: float, now: float,
        activity: NewActivity | None = None,
    ) -> None:
        """Record an attempt's outcome on the outbox row and its activity row, in one transaction.

        Group commit: settles that arrive within SETTLE_GATHER, or while one is being written, are committed
        together in one transaction; each caller returns once its own outcome is committed.
        """
        done_at = None if state == "pending" else now
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._settles.append(_Settle((delivery_id, state, attempts, next_attempt_at, done_at), activity, future))
        if not self._flushing:
            await self._flush_settles()
        await future

    async def _flush_settles(self) -> None:
        self._flushing = True
        batch: list[_Settle] = []
        try:
            await asyncio.sleep(SETTLE_GATHER)
            while self._settles:
                batch, self._settles = self._settles, []
                try:
                    await self._write_settles(batch)
                except Exception as exc:
                    for item in batch:
                        item.future.set_exception(exc)
                else:
                    for item in batch:
                        item.future.set_result(None)
        finally:
            self._flushing = False
            for item in [*batch, *self._settles]:
                if not item.future.done():
                    item.future.cancel()
            self._settles = []

    async def _write_settles(self, batch: list[_Settle]) -> None:
        """One statement (one round trip) per SETTLE_CHUNK settles; a larger batch is one explicit transaction."""
        values = [(*item.outbox, *(_NO_ACTIVITY if item.activity is None else _activity_values(item.activity)))
                  for item in batch]
        if len(values) <= SETTLE_CHUNK:
            async with self._lock:
                await self._insert_settles(self._db, values)
                self._committed()
        else:
            async with self._write() as db:
                for start in range(0, len(values), SETTLE_CHUNK):
                    await self._insert_settles(db, values[start:start + SETTLE_CHUNK])

    @staticmethod
    async def _insert_settles(db: aiosqlite.Connection, values: list[tuple[Any, ...]]) -> None:
        row = "(" + ", ".join(["?"] * len(_SETTLE_COLUMNS)) + ")"
        await db.execute(f"INSERT INTO settle ({', '.join(_SETTLE_COLUMNS)}) VALUES {', '.join([row] * len(values))}",
                         [item for value in values for item in value])

    async def mark_delivered(self, delivery_id: int, attempts: int, now: float) -> None:
        await self.settle(delivery_id, state="delivered", attempts=attempts, next_attempt_at=now, now=now)

    async def reschedule(self, delivery_id: int, attempts: int, next_attempt_at: float, now: float) -> None:
        await self.settle(delivery_id, state="pending", attempts=attempts, next_attempt_at=next_attempt_at, now=now)

    async def mark_failed(self, delivery_id: int, attempts: int, now: float) -> None:
        await self.settle(delivery_id, state="failed", attempts=attempts, next_attempt_at=now, now=now)

    async def mark_expired(self, delivery_id: int, attempts: int, now: float) -> None:
        await self.settle(delivery_id, state="expired", attempts=attempts, next_attempt_at=now, now=now)

    async def pending_count(self) -> int:
        row = await self._one("SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'")
        return int(row["n"])

    async def outbox_counts(self) -> dict[str, int]:
        rows = await self._all("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
        return {row["state"]: int(row["n"]) for row in rows}

    async def purge_outbox(self, before: float) -> int:
        """Forget finished deliveries done before `before`; pending ones stay."""
        async with self._write() as db:
            cursor = await db.execute("DELETE FROM outbox WHERE state != 'pending' AND done_at < ?", (before,))
            return cursor.rowcount

    # tracker log (agent/ingest/trackerlog.py)

    async def write_tracker_log(self, frames: Sequence[LogFrame], closed: Iterable[str] = (),
                                keep: Iterable[str] | None = None, *,
                                retags: Sequence[tuple[str, str]] = ()) -> None:
        """One transaction: file the frames of each `retags` old tag under its new one, drop the frames of
        `closed` tags (and, given `keep`, of every tag not in it), then append `frames` in order."""
        values = [item for frame in frames for item in frame]
        closed = sorted(closed)
        if not closed and not retags and keep is None and len(frames) <= LOG_CHUNK:  # one statement
            async with self._lock:
                await self._append_log(self._db, values)
                self._committed()
            return
        async with self._write() as db:
            for old, new in retags:
                await db.execute("UPDATE tracker_log SET call_id = ? WHERE call_id = ?", (new, old))
            if closed:
                await db.execute("DELETE FROM tracker_log WHERE call_id IN (SELECT value FROM json_each(?))",
                                 (json.dumps(closed),))
            if keep is not None:
                await db.execute("DELETE FROM tracker_log WHERE call_id NOT IN (SELECT value FROM json_each(?))",
                                 (json.dumps(sorted(keep)),))
            for start in range(0, len(values), 3 * LOG_CHUNK):
                await self._append_log(db, values[start:start + 3 * LOG_CHUNK])

    @staticmethod
    async def _append_log(db: aiosqlite.Connection, values: list[Any]) -> None:
        if values:
            await db.execute("INSERT INTO tracker_log (call_id, received_at, frame) VALUES "
                             + ", ".join(["(?, ?, ?)"] * (len(values) // 3)), values)

    async def clear_tracker_log(self) -> None:
        async with self._write() as db:
            await db.execute("DELETE FROM tracker_log")

    async def retag_tracker_log(self, tag: str) -> None:
        """File every stored frame under one tag (after a restart: the group of the calls restored)."""
        async with self._write() as db:
            await db.execute("UPDATE tracker_log SET call_id = ?", (tag,))

    async def tracker_log(self) -> list[LogFrame]:
        """Every logged frame, in arrival order."""
        rows = await self._all("SELECT call_id, received_at, frame FROM tracker_log ORDER BY id")
        return [(str(row[0]), float(row[1]), bytes(row[2])) for row in rows]

    async def completed_calls(self, call_ids: Iterable[str]) -> set[str]:
        """Those of `call_ids` whose completion event is in the outbox."""
        rows = await self._all(
            "SELECT DISTINCT call_id FROM outbox WHERE event IN ('call_answered', 'call_unanswered') "
            "AND call_id IN (SELECT value FROM json_each(?))", (json.dumps(sorted(call_ids)),))
        return {str(row[0]) for row in rows}

    # activity log

    async def add_activity(self, activity: NewActivity) -> Activity:
        async with self._write() as db:
            activity_id = await self._insert_activity(db, activity)
        row = await self._one("SELECT * FROM activity WHERE id = ?", (activity_id,))
        return _activity(row)

    async def _insert_activity(self, db: aiosqlite.Connection, activity: NewActivity) -> int:
        cursor = await db.execute(_INSERT_ACTIVITY, _activity_values(activity))
        return int(cursor.lastrowid or 0)

    async def search_activity(
        self, search: str = "", *, action: str | None = None, event: str | None = None,
        status: int | None = None, failed: bool | None = None, page: int = 1, per_page: int = 50,
    ) -> tuple[list[Activity], int]:
        """Attempts newest first. `search` looks in action, event, call id and message; `failed` = not 2xx."""
        clauses = ["(action LIKE ?1 ESCAPE '\\' OR event LIKE ?1 ESCAPE '\\' OR call_id LIKE ?1 ESCAPE '\\' "
                   "OR message LIKE ?1 ESCAPE '\\')"]
        params: list[Any] = [_like(search)]
        for clause, value in (("action = ?", action), ("event = ?", event), ("status = ?", status)):
            if value is not None:
                params.append(value)
                clauses.append(clause.replace("?", f"?{len(params)}"))
        if failed is not None:
            clauses.append("NOT (status BETWEEN 200 AND 299)" if failed else "status BETWEEN 200 AND 299")
        where = " AND ".join(clauses)
        size, offset = _page(page, per_page)
        total = await self._one(f"SELECT COUNT(*) AS n FROM activity WHERE {where}", params)
        rows = await self._all(
            f"SELECT * FROM activity WHERE {where} ORDER BY date DESC, id DESC LIMIT {size} OFFSET {offset}", params
        )
        return [_activity(row) for row in rows], int(total["n"])

    async def purge_activity(self, before: float) -> int:
        """Delete activity rows dated before `before`; returns how many."""
        async with self._write() as db:
            cursor = await db.execute("DELETE FROM activity WHERE date < ?", (before,))
            return cursor.rowcount
