"""The sender's bounded working set: a backlog beyond the window stays in SQLite and is paged in, in emission
order per (call, action), each row delivered once (a real receiver on 127.0.0.1, a real SQLite file)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs

from agent.settings import DeliverySettings
from agent.store.facade import Store
from agent.store.model import RenderedRequest
from agent.store.records import Delivery, NewDelivery
from agent.webhooks.outbox import Lanes
from agent.webhooks.sender import WINDOW_PER_SLOT
from tests.support.delivery import Engine, engine
from tests.support.receiver import Received, Receiver, receiver
from tests.support.settings import fast_delivery
from tests.support.store_rows import outbox_counts

CONCURRENCY = 2
WINDOW = WINDOW_PER_SLOT * CONCURRENCY
CALLS, ACTIONS, PER_LANE, BATCH = 100, 2, 3, 30
ROWS = CALLS * ACTIONS * PER_LANE


def settings() -> DeliverySettings:
    return fast_delivery(concurrency=CONCURRENCY, total_timeout=30.0)


def new_rows(url: str) -> list[NewDelivery]:
    """Each call's events in emission order, each event for both actions: lanes of PER_LANE rows."""
    now = time.time()
    return [NewDelivery(f"c{call}:{n}:{action}", "call_hangup", f"c{call}", action, f"a{action}",
                        RenderedRequest("POST", f"{url}/x?call=c{call}&action={action}&n={n}"), "final", now,
                        now + 3600.0, now)
            for call in range(CALLS) for n in range(PER_LANE) for action in range(1, ACTIONS + 1)]


async def enqueue(store: Store, url: str) -> list[list[Delivery]]:
    rows = new_rows(url)
    return [await store.enqueue(rows[i:i + BATCH]) for i in range(0, len(rows), BATCH)]


def lanes_in_order(requests: list[Received]) -> dict[tuple[str, str], list[int]]:
    lanes: dict[tuple[str, str], list[int]] = defaultdict(list)
    for request in requests:
        query = parse_qs(request.query_string)
        lanes[(query["call"][0], query["action"][0])].append(int(query["n"][0]))
    return lanes


async def held_then_released(rx: Receiver, eng: Engine) -> tuple[int, int, dict[str, int]]:
    """With `rx` holding every request to /x: once CONCURRENCY requests are held, the sender's depth and
    loaded rows; then `rx` answers, and once the sender is idle, the outbox counts."""
    gate = rx.gates["/x"]
    await rx.wait_for(CONCURRENCY)
    depth, loaded = eng.sender.depth, eng.sender.loaded
    gate.set()
    await asyncio.wait_for(eng.sender.wait_idle(), 60.0)
    return depth, loaded, outbox_counts(eng.store)


class TestPagedSender:
    async def test_backlog_stays_in_database(self, tmp_path: Path) -> None:
        """Given a receiver that holds every request and 600 rows submitted in batches, then the sender holds at
        most the window's lanes in memory while its depth counts all 600; once the receiver answers, every row is
        delivered exactly once and each (call, action) lane in emission order."""
        async with receiver() as rx, engine(tmp_path / "agent.db", settings()) as eng:
            rx.gates["/x"] = asyncio.Event()
            for batch in await enqueue(eng.store, rx.url):
                eng.sender.submit(batch)
            depth, loaded, counts = await held_then_released(rx, eng)
        assert depth == ROWS
        assert loaded <= WINDOW * PER_LANE + BATCH
        assert len(rx.requests) == ROWS
        assert counts == {"delivered": ROWS}
        assert all(ns == list(range(PER_LANE)) for ns in lanes_in_order(rx.requests).values())
        assert len(lanes_in_order(rx.requests)) == CALLS * ACTIONS

    async def test_restart_pages_pending_rows(self, tmp_path: Path) -> None:
        """Given 600 pending rows left by a previous run, when a sender starts with the receiver holding
        requests, then it loads only a window of them; once released, each is delivered once, lanes in order."""
        async with receiver() as rx:
            store = await Store.open(tmp_path / "agent.db")
            await enqueue(store, rx.url)
            await store.close()
            rx.gates["/x"] = asyncio.Event()
            async with engine(tmp_path / "agent.db", settings()) as eng:
                depth, loaded, counts = await held_then_released(rx, eng)
        assert depth == ROWS
        assert loaded <= WINDOW * PER_LANE + WINDOW
        assert counts == {"delivered": ROWS}
        assert all(ns == list(range(PER_LANE)) for ns in lanes_in_order(rx.requests).values())


def _row(seq: int, call_id: str, attempts: int = 0) -> Delivery:
    request = RenderedRequest("POST", "http://127.0.0.1/x")
    return Delivery(seq, seq, f"e{seq}", "call_hangup", call_id, 1, "a", request, "final", attempts, 0.0, 1e9,
                    "pending", 0.0)


class TestLanesReady:
    def test_counts_work_at_hand(self) -> None:
        """Given two lanes of two rows, then 2 are ready; taking one keeps 2 (in flight); a retry waiting for its
        time is not work at hand, and finishing a head makes the next row ready."""
        lanes = Lanes()
        lanes.add([_row(1, "A"), _row(2, "A"), _row(3, "B"), _row(4, "B")])
        assert lanes.ready == 2
        first = lanes.take_due(0.0)
        assert first is not None
        assert lanes.ready == 2
        lanes.retry(replace(first, attempts=1, next_attempt_at=50.0))
        assert lanes.ready == 1
        second = lanes.take_due(0.0)
        assert second is not None
        lanes.finish(second)
        assert (lanes.ready, len(lanes)) == (1, 3)
