"""The store's one connection to SQLite (the only writer) and the ways a table group uses it.

Every write runs under one lock, so concurrent coroutines never interleave half-done writes on the shared
connection: `write()` is one `BEGIN IMMEDIATE` transaction, rolled back on error, so nothing is half-saved;
`alone()` is one statement outside BEGIN, which SQLite commits by itself (one round trip to the database
thread instead of three). Reads need no lock. WAL with synchronous=NORMAL: a committed row survives a killed
process (not necessarily a power cut). Checkpoints run off the write path (agent/store/checkpoint.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from agent.store.checkpoint import Checkpointer
from agent.store.files import private_database
from agent.store.migrations import migrate
from agent.store.records import MAX_PER_PAGE, Conflict, NotFound

BUSY_TIMEOUT = 5.0  # seconds a write waits for another process's lock before failing with "database is locked"

T = TypeVar("T")
R = TypeVar("R")


async def _prepare(connection: aiosqlite.Connection, busy_timeout: float, setup: Sequence[str]) -> None:
    connection.row_factory = aiosqlite.Row
    for pragma in (f"busy_timeout = {round(busy_timeout * 1000)}", "journal_mode = WAL", "synchronous = NORMAL",
                   "foreign_keys = ON", "wal_autocheckpoint = 0"):
        await connection.execute(f"PRAGMA {pragma}")
    await migrate(connection)
    for statement in setup:
        await connection.execute(statement)


class Database:
    """The open database file. Build with `await Database.open(path)`; `await close()` at the end."""

    def __init__(self, connection: aiosqlite.Connection, path: Path, checkpointer: Checkpointer) -> None:
        self._connection = connection
        self._path = path
        self._checkpointer = checkpointer
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str, *, busy_timeout: float = BUSY_TIMEOUT, setup: Sequence[str] = ()) -> Database:
        """Open and migrate the file, then run `setup` (the per-connection TEMP objects the tables need).

        On failure (locked past the busy timeout, not a database) the connection is closed before the error
        propagates: its worker thread would otherwise keep the process alive after the agent gave up."""
        private_database(Path(path))
        connection = await aiosqlite.connect(str(path), isolation_level=None)
        try:
            await _prepare(connection, busy_timeout, setup)
            return cls(connection, Path(path), await Checkpointer.open(path))
        except BaseException:
            await connection.close()
            raise

    @property
    def path(self) -> Path:
        return self._path

    async def close(self) -> None:
        async with self._lock:
            await self._checkpointer.close()
            await self._connection.close()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One transaction. A failed COMMIT (disk full, locked) is rolled back too, unless SQLite already did:
        the connection is never left inside a transaction, so the next write can begin."""
        async with self._lock:
            db = self._connection
            if db.in_transaction:  # left open by a ROLLBACK that failed too
                await db.execute("ROLLBACK")
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                await db.execute("COMMIT")
                self._checkpointer.written()
            except BaseException:
                if db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        await db.execute("ROLLBACK")
                raise

    @asynccontextmanager
    async def alone(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection for ONE statement, which SQLite commits on its own (all of it or none)."""
        async with self._lock:
            yield self._connection
            self._checkpointer.written()

    async def chunked(self, insert: Callable[[aiosqlite.Connection, list[T]], Awaitable[R]], values: list[T],
                      size: int) -> R:
        """`insert` the `values`, `size` per statement: when one statement holds them all it commits alone, else
        every chunk goes in one transaction. Returns what the last `insert` returned."""
        if len(values) <= size:
            async with self.alone() as db:
                return await insert(db, values)
        chunks = [values[start:start + size] for start in range(0, len(values), size)]
        async with self.write() as db:
            for chunk in chunks[:-1]:
                await insert(db, chunk)
            return await insert(db, chunks[-1])

    async def change_row(self, sql: str, params: Sequence[Any], *, missing: str, taken: str | None = None) -> None:
        """One UPDATE or DELETE in its own transaction: NotFound(`missing`) when it matches no row, and, given
        `taken`, Conflict(`taken`) when it would break a uniqueness rule."""
        async with self.write() as db:
            try:
                cursor = await db.execute(sql, params)
            except sqlite3.IntegrityError as exc:
                if taken is None:
                    raise
                raise Conflict(taken) from exc
            if cursor.rowcount == 0:
                raise NotFound(missing)

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        async with self._connection.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def row(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        async with self._connection.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        """The single number `sql` selects (a COUNT or a MAX; 0 when NULL)."""
        row = await self.row(sql, params)
        return int(row[0] or 0) if row is not None else 0


async def insert_rows(db: aiosqlite.Connection, table: str, columns: Sequence[str],
                      rows: Sequence[Sequence[Any]]) -> int:
    """Insert `rows` (values of `columns`) with one statement; returns the last rowid (consecutive: one writer).
    `table` and `columns` are constants of the caller; every value is a bound parameter."""
    row = "(" + ", ".join(["?"] * len(columns)) + ")"
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * len(rows))}"  # noqa: S608
    cursor = await db.execute(sql, [value for values in rows for value in values])
    return int(cursor.lastrowid or 0)


def page_bounds(page: int, per_page: int) -> tuple[int, int]:
    """LIMIT and OFFSET of page `page` (from 1) of `per_page` rows, at most MAX_PER_PAGE."""
    size = min(max(per_page, 1), MAX_PER_PAGE)
    return size, (max(page, 1) - 1) * size


def like_pattern(text: str) -> str:
    """A LIKE pattern (with ESCAPE '\\') matching any text that contains `text` literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Tables:
    """Base of the store's table groups (agent/store/facade.py): each reads and writes through `_db`."""

    _db: Database
