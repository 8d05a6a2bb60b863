"""WAL checkpoints off the write path: a second connection copies the WAL back into the database file.

SQLite's automatic checkpoint runs inside the COMMIT that crosses 1,000 WAL pages, on the writing connection,
and with synchronous=NORMAL it is the only write that waits for fsync: the outbox INSERT or settle that happens
to cross it took ~5 ms instead of ~0.1 ms (profiled), delaying that delivery and every store write queued
behind it on the one database thread. The store turns it off (`wal_autocheckpoint = 0`) and calls `written()`
after each commit; every EVERY commits a PASSIVE checkpoint runs on this connection's own thread. PASSIVE never
waits for (nor blocks) readers or writers, so the writer's commits go on meanwhile. Closing the store's last
connection checkpoints what is left, as before.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import aiosqlite

log = logging.getLogger("agent.store.facade")

EVERY = 100  # commits between checkpoints: a few hundred WAL pages


class Checkpointer:
    """Runs a PASSIVE checkpoint every `every` commits (`written()`), one at a time, in the background."""

    def __init__(self, db: aiosqlite.Connection, every: int = EVERY) -> None:
        self._db = db
        self._every = every
        self._commits = 0
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: Path | str, every: int = EVERY) -> Checkpointer:
        return cls(await aiosqlite.connect(str(path), isolation_level=None), every)

    def written(self) -> None:
        """One more commit on the writing connection; starts a checkpoint when one is due and none runs."""
        self._commits += 1
        if self._commits >= self._every and (self._task is None or self._task.done()):
            self._commits = 0
            self._task = asyncio.create_task(self._checkpoint(), name="wal-checkpoint")

    async def _checkpoint(self) -> None:
        """Best effort: a failure (disk full, I/O) leaves the frames in the WAL for the next one."""
        try:
            await self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            log.debug("WAL checkpoint failed (retried after the next %d commits): %s", self._every, exc)

    async def close(self) -> None:
        """Let a running checkpoint finish (milliseconds), then close the connection."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self._db.close()
