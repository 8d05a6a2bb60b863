"""System events the outbox could not take yet: held in memory, in order, written once the store accepts writes.

The `Backlog` is the pump's `Sink` (agent/ingest/sink.py) and writes through to delivery's (the `Dispatcher`).
While nothing is held, a batch is written at once (one outbox transaction). When that write is refused with a
transient store error (database locked past the busy timeout, disk full, I/O error), the batch is kept and the
store writer (agent/store/writer.py) writes what is held with a capped backoff; batches put meanwhile go behind it
without waiting, so the pump keeps tracking calls and every call's events stay in order. Any other error goes
back to the pump's supervision point.

At most `limit` events are held (100,000 by default, about 1.5 kB each: 40 minutes of ten calls a second).
Beyond that new events are dropped: counted (`dropped`, the metric `event_agent_system_events_dropped_total`)
and logged as errors, never silently. Held events live only in memory: a stop that cannot write them within
the grace period logs how many are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Sequence

from agent.ami.events import printable
from agent.ingest.sink import Sink
from agent.mapping.catalog import SystemEvent
from agent.metrics import Metrics
from agent.store.health import WRITE_RETRY, Backoff, StoreHealth, transient
from agent.store.writer import StoreWriter

log = logging.getLogger("agent.ingest.pump")

LIMIT = 100_000
CHUNK = 256
WRITER = "system events"


def names(events: Sequence[SystemEvent]) -> str:
    return printable(", ".join(f"{e.name}/{e.call_id}" for e in events))  # call ids come from the PBX


class Backlog:
    """A `Sink` that writes through to `sink` in order, holding events while the store refuses writes. One caller."""

    def __init__(self, sink: Sink, health: StoreHealth, metrics: Metrics, *, limit: int = LIMIT,
                 backoff: Backoff = WRITE_RETRY) -> None:
        self._sink = sink
        self._health = health
        self._metrics = metrics
        self._limit = limit
        self._writer = StoreWriter(WRITER, health, late=lambda _: self._written_late(), backoff=backoff)
        self._held: deque[SystemEvent] = deque()
        self._task: asyncio.Task[None] | None = None
        self._late = 0
        self._dropped_now = 0
        self.dropped = 0

    def __len__(self) -> int:
        """Events held, not yet written."""
        return len(self._held)

    async def put(self, events: Sequence[SystemEvent]) -> None:
        """Write `events` now, or hold them behind those already held; raises only non-transient errors."""
        if not events:
            return
        if self._held:
            self._hold(events)
        elif not await self._writer.attempt(lambda: self._sink.put(events)):
            self._hold(events)
            self._task = asyncio.create_task(self._write_held(), name="backlog")

    def _hold(self, events: Sequence[SystemEvent]) -> None:
        room = self._limit - len(self._held)
        self._held.extend(events[:room])
        if len(events) > room:
            self._drop(events[room:])

    def _drop(self, events: Sequence[SystemEvent]) -> None:
        if not self._dropped_now:
            log.error("backlog full (%d system events held while the database refuses writes): dropping new "
                      "system events until it accepts writes again, starting with %s", self._limit, names(events))
        self._dropped_now += len(events)
        self.dropped += len(events)
        self._metrics.events_dropped.inc(amount=len(events))

    async def _write_held(self) -> None:
        """Write what is held through the store writer (the first try was just refused); then start afresh."""
        await self._writer.hold(self._flush, refused=True)
        if self._dropped_now:
            log.error("%d system events were dropped while the backlog was full", self._dropped_now)
        self._late = 0
        self._dropped_now = 0

    async def _flush(self) -> None:
        """Write held events in chunks, oldest first; a chunk that fails for good is logged, counted, dropped."""
        while self._held:
            chunk = list(itertools.islice(self._held, CHUNK))
            try:
                await self._sink.put(chunk)
            except Exception as exc:
                if transient(exc):
                    raise
                self._metrics.pump_errors.inc()
                log.exception("failed to dispatch %d held system events: %s", len(chunk), names(chunk))
            else:
                self._late += len(chunk)
            for _ in chunk:
                self._held.popleft()

    def _written_late(self) -> str:
        written = f"wrote {self._late} held system events"
        if self._dropped_now:
            written += f" ({self._dropped_now} dropped: the backlog was full)"
        return written

    async def wait_written(self) -> None:
        """Return once nothing is held (tests and `Agent.run_until_idle`)."""
        task = self._task
        if self._held and task is not None and not task.done():
            await asyncio.wait({task})

    async def close(self, grace: float) -> None:
        """Try at once, and for up to `grace` s, to write what is held; then stop. What is left is logged lost."""
        task = self._task
        if task is not None:
            self._writer.hurry()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await asyncio.wait({task})
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._held:
            log.error("stopping with %d system events not written (the database refuses writes: %s): they are "
                      "lost: %s", len(self._held), self._health.error, names(list(self._held)[:20]))
