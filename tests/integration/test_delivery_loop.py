"""The delivery path shares the event loop: large batches are cut into steps, and their order and atomicity hold."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

from agent.metrics import Metrics
from agent.store.checkpoint import Checkpointer
from agent.store.deliveries import SETTLE_CHUNK
from agent.store.facade import Store
from agent.store.model import Action, RenderedRequest
from agent.store.records import NewActivity, NewDelivery
from agent.webhooks.dispatcher import RENDER_CHUNK
from agent.webhooks.retry import RetryPolicy
from agent.webhooks.sender import GIVE_WAY_MAX, GIVE_WAY_STEP, Sender
from tests.support.delivery import engine, system_event
from tests.support.polling import eventually
from tests.support.receiver import Receiver, receiver
from tests.support.settings import fast_delivery
from tests.support.store_rows import delivery, outbox_counts


def _row(call_id: str) -> NewDelivery:
    request = RenderedRequest("POST", "http://127.0.0.1:9/x", (), b"", None)
    return NewDelivery(f"{call_id}:a", "call_answered", call_id, 1, "crm", request, "final", 1.0, 9e9, 1.0)


def _activity(call_id: str) -> NewActivity:
    return NewActivity("crm", 1, "call_answered", call_id, 1, 200, "ok", 1.0, 2.0)


class TestSettleStatement:
    async def test_more_than_one_statement(self, tmp_path: Path) -> None:
        """Given more concurrent settles than one statement holds, when all return, then every outcome and every
        activity row is saved, and a settle without activity adds none."""
        store = await Store.open(tmp_path / "a.db")
        try:
            count = SETTLE_CHUNK + 100
            rows = await store.enqueue([_row(f"c{i}") for i in range(count)])
            await asyncio.gather(*(store.settle(r.id, state="delivered", attempts=1, next_attempt_at=2.0, now=2.0,
                                                activity=_activity(r.call_id) if r.seq > 1 else None) for r in rows))
            assert outbox_counts(store) == {"delivered": count}
            assert (await store.search_activity())[1] == count - 1
            assert delivery(store, rows[-1].id).attempts == 1
        finally:
            await store.close()

    async def test_batch_is_atomic(self, tmp_path: Path) -> None:
        """Given two settles committed together, one of them invalid, when written, then both fail and neither
        the valid outcome nor its activity row is saved."""
        store = await Store.open(tmp_path / "a.db")
        try:
            first, good, bad = await store.enqueue([_row("c1"), _row("c2"), _row("c3")])
            await store.settle(first.id, state="delivered", attempts=1, next_attempt_at=2.0, now=2.0)
            results = await asyncio.gather(
                store.settle(good.id, state="delivered", attempts=1, next_attempt_at=2.0, now=2.0,
                             activity=_activity("c2")),
                store.settle(bad.id, state="bogus", attempts=1, next_attempt_at=2.0, now=2.0),  # type: ignore[arg-type]
                return_exceptions=True)
            assert all(isinstance(result, sqlite3.IntegrityError) for result in results)
            assert outbox_counts(store) == {"delivered": 1, "pending": 2}
            assert (await store.search_activity())[1] == 0
        finally:
            await store.close()


class TestDispatchSteps:
    async def test_large_batch_yields_and_keeps_order(self, tmp_path: Path) -> None:
        """Given a batch of 3 render chunks, when dispatched, then another task runs meanwhile and the rows are
        one consecutive run in emission order."""
        async with engine(tmp_path / "a.db") as e:
            action = await e.store.create_action(Action(name="crm", method="POST", url="http://127.0.0.1:9/x"))
            await e.store.update_event("call_answered", active=True, action_ids=[action.id or 0])
            await e.store.set_actions_enabled(True)
            await e.dispatcher.routing()
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0)

            task = asyncio.create_task(ticker())
            await asyncio.sleep(0)
            before = ticks
            events = [system_event("call_answered", f"c{i}") for i in range(3 * RENDER_CHUNK)]
            rows = await e.dispatcher._plan(events)
            during = ticks - before
            task.cancel()
            assert during >= 2
            assert [row.call_id for row in rows] == [f"c{i}" for i in range(3 * RENDER_CHUNK)]
            assert len({row.created_at for row in rows}) == 1

    async def test_large_batch_is_one_run(self, tmp_path: Path) -> None:
        """Given a batch of 3 render chunks, when dispatched, then its rows are stored with consecutive sequence
        numbers in emission order."""
        async with engine(tmp_path / "a.db") as e:
            action = await e.store.create_action(Action(name="crm", method="POST", url="http://127.0.0.1:9/x"))
            await e.store.update_event("call_answered", active=True, action_ids=[action.id or 0])
            await e.store.set_actions_enabled(True)
            events = [system_event("call_answered", f"c{i}") for i in range(3 * RENDER_CHUNK)]
            stored = await e.dispatcher.dispatch(events)
            assert [(row.call_id, row.seq) for row in stored] == [(f"c{i}", i + 1) for i in range(3 * RENDER_CHUNK)]
            assert await e.store.pending_count() == 3 * RENDER_CHUNK



def _rows_in_file_alone(path: Path, copy: Path) -> int:
    """Outbox rows in the database file itself, without its WAL (what a checkpoint has copied back)."""
    copy.write_bytes(path.read_bytes())
    with contextlib.closing(sqlite3.connect(copy)) as db:
        if db.execute("SELECT 1 FROM sqlite_schema WHERE name = 'outbox'").fetchone() is None:
            return 0  # even the schema is still only in the WAL
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


class TestCheckpointer:
    async def test_copies_the_wal_back_every_n_commits(self, tmp_path: Path) -> None:
        """Given a store (automatic checkpoints off) and a checkpointer every 5 commits, when 4 and then 5 commits
        are written, then the database file alone holds no row after 4 and all 5 after the checkpoint."""
        store = await Store.open(tmp_path / "a.db")
        try:
            checkpointer = await Checkpointer.open(tmp_path / "a.db", every=5)
            try:
                for i in range(5):
                    await store.enqueue([_row(f"c{i}")])
                    checkpointer.written()
                    if i == 3:
                        assert _rows_in_file_alone(tmp_path / "a.db", tmp_path / "four.db") == 0
            finally:
                await checkpointer.close()
            assert _rows_in_file_alone(tmp_path / "a.db", tmp_path / "five.db") == 5
        finally:
            await store.close()


class TestIntakeFirst:
    async def test_attempts_wait_while_the_ami_intake_is_backed_up(self, tmp_path: Path) -> None:
        """Given the AMI intake backed up, when a row is committed, then no attempt starts until the intake has
        drained (within GIVE_WAY_MAX), and the row is delivered right after."""
        busy = [True]
        async with given_way(tmp_path, lambda: busy[0]) as (store, rx):
            await asyncio.sleep(GIVE_WAY_MAX / 2)
            assert rx.requests == []
            busy[0] = False
            await rx.wait_for(1)
            await eventually(lambda: outbox_counts(store) == {"delivered": 1}, what="the row recorded as delivered")
            assert [r.path for r in rx.requests] == ["/x"]

    async def test_a_long_burst_slows_attempts_but_never_stops_them(self, tmp_path: Path) -> None:
        """Given an intake that stays backed up, when a row is committed, then its attempt first gives way for
        the whole of GIVE_WAY_MAX (the sender looks at the intake every GIVE_WAY_STEP all that while) and is
        then made all the same: the row is delivered, once."""
        looks: list[bool] = []

        def busy() -> bool:
            looks.append(True)
            return True

        async with given_way(tmp_path, busy) as (store, rx):
            await rx.wait_for(1)
            await eventually(lambda: outbox_counts(store) == {"delivered": 1}, what="the row recorded as delivered")
            assert [r.path for r in rx.requests] == ["/x"]
        assert len(looks) >= round(GIVE_WAY_MAX / GIVE_WAY_STEP)


@contextlib.asynccontextmanager
async def given_way(tmp_path: Path, busy: Callable[[], bool]) -> AsyncIterator[tuple[Store, Receiver]]:
    """A started sender whose intake is `busy`, with one row committed for a live receiver."""
    delivery = fast_delivery()
    store = await Store.open(tmp_path / "a.db")
    sender = Sender(store, delivery, RetryPolicy.from_settings(delivery), Metrics(), time.time, intake_busy=busy)
    await sender.start()
    try:
        async with receiver() as rx:
            sender.submit(await store.enqueue([replace(_row("c1"), request=RenderedRequest("POST", rx.url + "/x"))]))
            yield store, rx
    finally:
        await sender.close()
        await store.close()
