"""The database refusing writes for a while: which errors are transient, the pump's backlog, the sender's late
outcomes and the admin API's 503, on real SQLite files locked by a second connection (BEGIN EXCLUSIVE) or
capped by max_page_count (SQLite's own "database or disk is full")."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from agent.ami.events import AmiMessage
from agent.devtools.trace import read_events
from agent.ingest.backlog import Backlog
from agent.ingest.pump import Pump
from agent.mapping.catalog import SystemEvent
from agent.mapping.config import MappingConfig
from agent.mapping.tracker import CallTracker
from agent.metrics import Metrics
from agent.store.facade import Store
from agent.store.health import Backoff, StoreHealth, transient
from agent.store.model import Action
from agent.store.records import Delivery
from agent.webhooks.dispatcher import Dispatcher
from agent.webhooks.retry import RetryPolicy
from agent.webhooks.sender import Sender
from tests.support.agent_runner import running_agent
from tests.support.api import running_api
from tests.support.database import locked
from tests.support.delivery import FunctionSink, system_event
from tests.support.paths import TRACES
from tests.support.polling import eventually
from tests.support.receiver import free_port, receiver
from tests.support.settings import agent_settings, fast_delivery
from tests.support.store_rows import delivery, pending

TRACE = TRACES / "01_internal_answered_caller_hangup.ami"
QUICK = Backoff(first=0.01, cap=0.05)
BUSY = 0.05  # seconds a write of the store under test waits for the lock before "database is locked"


@asynccontextmanager
async def bound_store(path: Path, url: str = "http://127.0.0.1:9/x") -> AsyncIterator[Store]:
    """A store whose five events are bound to one action, the switch on; writes give up after BUSY s."""
    store = await Store.open(path, busy_timeout=BUSY)
    action = await store.create_action(Action(name="a", method="POST", url=url))
    for key in ("call_incoming", "ringing", "call_answered", "call_unanswered", "call_hangup"):
        await store.update_event(key, active=True, action_ids=[action.id or 0])
    await store.set_actions_enabled(True)
    try:
        yield store
    finally:
        await store.close()


def events(count: int) -> list[SystemEvent]:
    return [system_event("call_incoming", f"c{n}") for n in range(count)]


async def outbox_calls(store: Store) -> list[str]:
    return [row.call_id for row in await pending(store)]


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level and r.name.startswith("agent")]


class TestTransient:
    def test_locked(self, tmp_path: Path) -> None:
        """Given a database locked by another connection, when written, then the error is transient."""
        path = tmp_path / "a.db"
        sqlite3.connect(path).close()
        with locked(path), pytest.raises(sqlite3.OperationalError) as caught:
            sqlite3.connect(path, timeout=0).execute("CREATE TABLE t (x)")
        assert str(caught.value) == "database is locked"
        assert transient(caught.value)

    def test_full(self, tmp_path: Path) -> None:
        """Given a database at its page limit, when a row does not fit, then 'disk is full' is transient."""
        db = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
        db.execute("CREATE TABLE t (x)")
        db.execute("PRAGMA max_page_count = 2")
        with pytest.raises(sqlite3.OperationalError) as caught:
            db.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
        db.close()
        assert "full" in str(caught.value)
        assert transient(caught.value)

    def test_permanent(self, tmp_path: Path) -> None:
        """Given an SQL error, a constraint violation and a non-SQLite error, then none is transient."""
        db = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
        db.execute("CREATE TABLE t (x UNIQUE)")
        db.execute("INSERT INTO t VALUES (1)")
        found: list[BaseException] = [ValueError("no active connection")]
        for sql in ("SELECT * FROM missing", "INSERT INTO t VALUES (1)"):
            with pytest.raises(sqlite3.DatabaseError) as caught:
                db.execute(sql)
            found.append(caught.value)
        db.close()
        assert [transient(exc) for exc in found] == [False, False, False]


class TestBackoff:
    def test_delays(self) -> None:
        """Given the default backoff, when iterated, then 0.2 s doubles up to 5 s and stays there."""
        delays = Backoff().delays()
        assert [round(next(delays), 3) for _ in range(8)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]


class TestStoreHealth:
    def test_one_line_each_way(self, caplog: pytest.LogCaptureFixture) -> None:
        """Given two writers failing repeatedly, when both resume, then one warning, one info per writer."""
        caplog.set_level(logging.INFO, logger="agent")
        now = [100.0]
        health = StoreHealth(lambda: now[0])
        for _ in range(3):
            health.failed("system events", sqlite3.OperationalError("database is locked"))
            health.failed("delivery outcomes", sqlite3.OperationalError("database or disk is full"))
        troubled = (health.ok, health.error, health.since)
        now[0] = 108.0
        health.resumed("system events", "wrote 5 held system events")
        half = health.ok
        health.resumed("delivery outcomes", "recorded 2 delivery outcomes late")
        assert troubled == (False, "database or disk is full", 100.0)
        assert (half, health.ok, health.error, health.since) == (False, True, None, None)
        assert len(messages(caplog, logging.WARNING)) == 1
        assert "database is locked" in messages(caplog, logging.WARNING)[0]
        assert [m.split(": ", 1)[1] for m in messages(caplog, logging.INFO)] == [
            "wrote 5 held system events", "recorded 2 delivery outcomes late"]


class TestBacklog:
    async def test_holds_then_writes_in_order(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """Given a locked database, when batches are put, then they are held; once released, written in order."""
        caplog.set_level(logging.INFO, logger="agent")
        async with bound_store(tmp_path / "a.db") as store:
            health = StoreHealth(time.time)
            dispatcher = Dispatcher(store, RetryPolicy.from_settings(fast_delivery()), lambda rows: None, Metrics(),
                                    time.time)
            backlog = Backlog(dispatcher, health, Metrics(), backoff=QUICK)
            batches = [events(3)[:2], events(3)[2:], [system_event("call_hangup", "c0")]]
            with locked(tmp_path / "a.db"):
                for batch in batches:
                    await backlog.put(batch)
                held, ok, error = len(backlog), health.ok, health.error
                await asyncio.sleep(0.1)  # a few refused retries
            await backlog.wait_written()
            assert (held, ok, error) == (4, False, "database is locked")
            assert await outbox_calls(store) == ["c0", "c1", "c2", "c0"]
            assert (len(backlog), health.ok, backlog.dropped) == (0, True, 0)
        assert len(messages(caplog, logging.WARNING)) == 1
        assert [m for m in messages(caplog, logging.INFO) if "wrote 4 held system events" in m]

    async def test_limit(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """Given a backlog of 3, when 5 events are refused, then the 2 newest are dropped, counted and logged."""
        metrics = Metrics()
        async with bound_store(tmp_path / "a.db") as store:
            dispatcher = Dispatcher(store, RetryPolicy.from_settings(fast_delivery()), lambda rows: None, Metrics(),
                                    time.time)
            backlog = Backlog(dispatcher, StoreHealth(time.time), metrics, limit=3, backoff=QUICK)
            with locked(tmp_path / "a.db"):
                await backlog.put(events(2))
                await backlog.put(events(5)[2:])
            await backlog.wait_written()
            assert await outbox_calls(store) == ["c0", "c1", "c2"]
        assert (backlog.dropped, metrics.events_dropped.value()) == (2, 2)
        assert any("dropping" in m and "c3" in m for m in messages(caplog, logging.ERROR))

    async def test_permanent_error(self) -> None:
        """Given a write that fails with a non-store error, when put, then it is raised and nothing is held."""
        async def broken(batch: object) -> None:
            raise ValueError("no active connection")

        backlog = Backlog(FunctionSink(broken), StoreHealth(time.time), Metrics(), backoff=QUICK)
        with pytest.raises(ValueError, match="no active connection"):
            await backlog.put(events(1))
        assert len(backlog) == 0

    async def test_permanent_error_while_held(self, caplog: pytest.LogCaptureFixture) -> None:
        """Given held events whose retry fails for good (not a store error), then they are logged with their
        calls, counted as pump errors and dropped, and later events are written again."""
        outcomes: list[BaseException | None] = [sqlite3.OperationalError("database is locked"), ValueError("bug")]
        written: list[str] = []

        async def write(batch: Sequence[SystemEvent]) -> None:
            outcome = outcomes.pop(0) if outcomes else None
            if outcome is not None:
                raise outcome
            written.extend(e.call_id for e in batch)

        metrics = Metrics()
        backlog = Backlog(FunctionSink(write), StoreHealth(time.time), metrics, backoff=QUICK)
        await backlog.put(events(2))
        await backlog.wait_written()
        await backlog.put(events(3)[2:])
        assert (len(backlog), metrics.pump_errors.value(), written) == (0, 1, ["c2"])
        assert any("call_incoming/c1" in m for m in messages(caplog, logging.ERROR))

    async def test_close_reports_loss(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """Given events held when the agent stops, when the grace period ends locked, then the loss is logged."""
        async with bound_store(tmp_path / "a.db") as store:
            dispatcher = Dispatcher(store, RetryPolicy.from_settings(fast_delivery()), lambda rows: None, Metrics(),
                                    time.time)
            backlog = Backlog(dispatcher, StoreHealth(time.time), Metrics(), backoff=QUICK)
            with locked(tmp_path / "a.db"):
                await backlog.put(events(2))
                await backlog.close(0.1)
        assert any("2 system events not written" in m and "lost" in m for m in messages(caplog, logging.ERROR))


class TestPumpBacklog:
    async def test_tracking_goes_on(self, tmp_path: Path) -> None:
        """Given a locked database, when a call's AMI events flow, then the pump tracks them all without errors,
        and once released the call's three deliveries are in the outbox in order."""
        async with bound_store(tmp_path / "a.db") as store:
            metrics, health = Metrics(), StoreHealth(time.time)
            dispatcher = Dispatcher(store, RetryPolicy.from_settings(fast_delivery()), lambda rows: None, Metrics(),
                                    time.time)
            backlog = Backlog(dispatcher, health, metrics, backoff=QUICK)
            queue: asyncio.Queue[AmiMessage] = asyncio.Queue()
            pump = Pump(queue, CallTracker(MappingConfig()), backlog, metrics, time.time)
            trace = read_events(TRACE)
            for message in trace:
                queue.put_nowait(message)
            task = asyncio.create_task(pump.run())
            with locked(tmp_path / "a.db"):
                await pump.wait_processed(len(trace))
                held, ok = len(backlog), health.ok
            await backlog.wait_written()
            task.cancel()
            rows = await pending(store)
        assert (held, ok, metrics.pump_errors.value()) == (3, False, 0)
        assert [row.event for row in rows] == ["call_incoming", "ringing", "call_answered"]


class TestSenderOutcome:
    async def test_outcome_written_late(self, tmp_path: Path) -> None:
        """Given a delivery whose outcome the locked database refuses, when released, then it is recorded as
        delivered with its activity row, the request was sent once, and the row stayed pending meanwhile."""
        async with receiver() as rx, bound_store(tmp_path / "a.db", f"{rx.url}/hook") as store:
            settings, health = fast_delivery(), StoreHealth(time.time)
            sender = Sender(store, settings, RetryPolicy.from_settings(settings), Metrics(), time.time,
                            health=health, backoff=QUICK)
            dispatcher = Dispatcher(store, RetryPolicy.from_settings(settings), lambda rows: None, Metrics(), time.time)
            rows: list[Delivery] = await dispatcher.dispatch(events(1))
            try:
                with locked(tmp_path / "a.db"):
                    await sender.start()  # resumes the pending row
                    await rx.wait_for(1)
                    await eventually(lambda: sender.outcomes_waiting == 1, what="an outcome waiting")
                    meanwhile = (delivery(store, rows[0].id).state, health.ok)
                await sender.wait_idle()
            finally:
                await sender.close()
            done = delivery(store, rows[0].id)
            activity, total = await store.search_activity()
        assert meanwhile == ("pending", False)
        assert (done.state, done.attempts, total, activity[0].status) == ("delivered", 1, 1, 200)
        assert (len(rx.requests), sender.outcomes_waiting, health.ok) == (1, 0, True)


class TestApiUnavailable:
    async def test_503(self, tmp_path: Path) -> None:
        """Given a locked database, when the admin API writes, then 503 in the error shape with Retry-After;
        reads still answer, and the write succeeds once the lock is gone."""
        store = await Store.open(tmp_path / "agent.db", busy_timeout=BUSY)
        async with running_api(tmp_path, store=store) as api:
            with locked(tmp_path / "agent.db"):
                async with api.client.put("/api/v1/settings", json={"actions_enabled": True},
                                          headers=api.headers()) as response:
                    status, body, retry = response.status, await response.json(), response.headers.get("Retry-After")
                read, _ = await api.call("GET", "/api/v1/events")
            after, _ = await api.call("PUT", "/api/v1/settings", json={"actions_enabled": True})
        await store.close()
        assert (status, set(body), body["details"], retry) == (503, {"error", "details"}, [], "5")
        assert "database is locked" in body["error"]
        assert (read, after) == (200, 200)


class TestAgentStatus:
    async def test_store_section(self, tmp_path: Path) -> None:
        """Given a running agent, when its writers report a refused write, then status shows it under "store"
        with the error and since when (ISO, UTC), and the metrics say the store is not ok."""
        settings = agent_settings(tmp_path, free_port())
        async with running_agent(settings, clock=lambda: 1_800_000_000.0) as agent:
            healthy = dict(agent.status()["store"])  # type: ignore[call-overload]
            agent.health.failed("system events", sqlite3.OperationalError("database is locked"))
            troubled = dict(agent.status()["store"])  # type: ignore[call-overload]
            metrics = agent.metrics.render()
        assert healthy == {"ok": True, "error": None, "since": None, "backlog": 0, "dropped": 0,
                           "outcomes_waiting": 0}
        assert troubled == {**healthy, "ok": False, "error": "database is locked", "since": "2027-01-15T08:00:00Z"}
        assert "event_agent_store_ok 0" in metrics
        assert "event_agent_store_backlog 0" in metrics
