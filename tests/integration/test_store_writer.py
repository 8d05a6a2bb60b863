"""The one retrying writer (agent/store/writer.py): holds a write while the store refuses it, reports the outage
to StoreHealth once, raises what waiting cannot fix; and the purge that goes through it, on a real locked file."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.store.facade import NewActivity, Store
from agent.store.health import Backoff, StoreHealth
from agent.store.writer import StoreWriter
from agent.webhooks.retention import Retention
from tests.support.database import locked
from tests.support.polling import eventually

QUICK = Backoff(first=0.01, cap=0.02)
NEVER = Backoff(first=3600.0, cap=3600.0)  # a write waiting this long is only tried again when hurried
LOCKED = sqlite3.OperationalError("database is locked")


class Script:
    """A write that fails with the given errors in turn, then succeeds; it records what the writer saw."""

    def __init__(self, *failures: BaseException, watch: Callable[[], object] = lambda: None) -> None:
        self.failures = list(failures)
        self.calls = 0
        self.watch = watch
        self.seen: list[object] = []

    async def __call__(self) -> None:
        self.calls += 1
        self.seen.append(self.watch())
        if self.failures:
            raise self.failures.pop(0)


def writer(health: StoreHealth, backoff: Backoff = QUICK) -> StoreWriter:
    return StoreWriter("test rows", health, late=lambda n: f"wrote {n} test writes late", backoff=backoff)


def lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level and r.name.startswith("agent")]


class TestStoreWriter:
    async def test_written_at_once(self, caplog: pytest.LogCaptureFixture) -> None:
        """Given a store that takes the write, when held, then it is written once, nothing waits, nothing logged."""
        caplog.set_level(logging.INFO, logger="agent")
        health = StoreHealth(time.time)
        rows = writer(health)
        write = Script()
        await rows.hold(write)
        assert (write.calls, rows.waiting, health.ok, lines(caplog, logging.WARNING)) == (1, 0, True, [])

    async def test_holds_while_refused(self, caplog: pytest.LogCaptureFixture) -> None:
        """Given a store that refuses twice (locked), when held, then the write waits (counted, health not ok)
        and goes through on the third try; one warning, then one info line saying what was written late."""
        caplog.set_level(logging.INFO, logger="agent")
        health = StoreHealth(time.time)
        rows = writer(health)
        write = Script(LOCKED, LOCKED, watch=lambda: (rows.waiting, health.ok))
        await rows.hold(write)
        assert write.seen == [(0, True), (1, False), (1, False)]
        assert (rows.waiting, health.ok) == (0, True)
        assert len(lines(caplog, logging.WARNING)) == 1
        assert [m for m in lines(caplog, logging.INFO) if m.endswith(": wrote 1 test writes late")]

    async def test_permanent_error_raises_at_once(self) -> None:
        """Given a write that fails with an error waiting cannot fix, then it is raised on the first try."""
        health = StoreHealth(time.time)
        write = Script(sqlite3.OperationalError("no such table: t"))
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await writer(health).hold(write)
        assert (write.calls, health.ok) == (1, True)

    async def test_permanent_error_after_refusal_ends_the_outage(self) -> None:
        """Given a refused write that then fails for good, then that error is raised, nothing waits any more and
        the store counts as answering again."""
        health = StoreHealth(time.time)
        rows = writer(health)
        with pytest.raises(ValueError, match="bug"):
            await rows.hold(Script(LOCKED, ValueError("bug")))
        assert (rows.waiting, health.ok) == (0, True)

    async def test_attempt(self) -> None:
        """Given one try that is refused, then attempt says so and health is told; a try that goes says True."""
        health = StoreHealth(time.time)
        rows = writer(health)
        refused = await rows.attempt(Script(LOCKED))
        failing = health.ok
        assert (refused, failing, await rows.attempt(Script())) == (False, False, True)

    async def test_refused_waits_then_hurry(self) -> None:
        """Given the caller's own attempt was refused, when held with `refused`, then nothing is tried before the
        wait; hurry() ends the wait and the write goes through on that one try."""
        health = StoreHealth(time.time)
        rows = writer(health, NEVER)
        assert not await rows.attempt(Script(LOCKED))
        write = Script()
        task = asyncio.create_task(rows.hold(write, refused=True))
        await asyncio.sleep(0)  # let it start waiting
        before = (write.calls, rows.waiting)
        rows.hurry()
        await task
        assert (before, write.calls, rows.waiting, health.ok) == ((0, 1), 1, 0, True)

    async def test_resumed_once_the_last_held_write_goes(self) -> None:
        """Given two writes held at once, when the first goes through, then the outage is not over until the
        second has gone too; then one line counts both."""
        health = StoreHealth(time.time)
        notes: list[int] = []
        rows = StoreWriter("test rows", health, late=lambda n: notes.append(n) or "", backoff=NEVER)
        first, second = Script(LOCKED), Script(LOCKED)
        tasks = [asyncio.create_task(rows.hold(first)), asyncio.create_task(rows.hold(second))]
        await eventually(lambda: rows.waiting == 2, what="both writes held")
        first.failures, second.failures = [], [LOCKED]
        rows.hurry()
        await tasks[0]
        half = (rows.waiting, health.ok)
        second.failures = []
        rows.hurry()
        await tasks[1]
        assert (half, health.ok, notes) == ((1, False), True, [2])

    async def test_cancelled_while_waiting(self) -> None:
        """Given a held write cancelled while it waits (a stop), then it no longer counts as waiting."""
        health = StoreHealth(time.time)
        rows = writer(health, NEVER)
        task = asyncio.create_task(rows.hold(Script(LOCKED)))
        await eventually(lambda: rows.waiting == 1, what="the write held")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert rows.waiting == 0


class TestRetention:
    async def test_purge_waits_for_a_locked_database(self, tmp_path: Path) -> None:
        """Given activity 40 days old and a database locked by another connection, when the retention runs, then
        the store's health names the purge; once released, the old row is gone and the health is ok again."""
        store = await Store.open(tmp_path / "a.db", busy_timeout=0.05)
        health, now = StoreHealth(time.time), time.time()
        await store.add_activity(NewActivity("a", 1, "call_answered", "c", 1, 200, "ok", 1.0, now - 40 * 86400))
        retention = Retention(store, health, time.time, days=30)
        try:
            with locked(tmp_path / "a.db"):
                task = asyncio.create_task(retention.run())
                await eventually(lambda: not health.ok, what="the refused purge reported")
                failing = health.error
            await eventually(lambda: health.ok, what="the purge written")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            _, total = await store.search_activity()
        finally:
            await store.close()
        assert (failing, total) == ("database is locked", 0)
