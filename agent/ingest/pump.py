"""The pump: AMI queue -> call tracker -> `Sink` (agent/ingest/sink.py), one message at a time, in order.

`_process` is the named supervision point of the event path: an exception while handling one AMI message is
logged with that message, counted, and the loop goes on with the next. Messages already waiting in the queue
are taken together (up to BATCH), so a burst costs one outbox transaction, in emission order. With a tracker log
(agent/ingest/trackerlog.py), the events the tracker learns from and the calls it completes are logged after
each batch's system events are safe in the sink.

In the daemon the sink is the `Backlog` (agent/ingest/backlog.py), which writes through to delivery (the
`Dispatcher`): while the database refuses writes (locked, disk full) it holds the system events in memory, in
order, and returns at once, so tracking goes on; only errors that waiting cannot fix reach the supervision point.

Housekeeping (stuck-call expiry, pruning the tracker log to the calls in progress) runs every `housekeeping_every`
seconds of the injected clock, before the next batch once that much time has passed, or when the queue stays
empty that long. Its "now" is the AMI clock (agent/ingest/amiclock.py), never the bare wall clock, so a stream
with old timestamps expires nothing that is still going on. Tests drive it with their own clock: no sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from agent.ami.events import AmiEvent, AmiMessage, ConnectionLost, ConnectionUp, printable
from agent.ingest.amiclock import AmiClock
from agent.ingest.sink import Sink
from agent.ingest.trackerlog import TrackerLog
from agent.mapping.catalog import CALL_ANSWERED, CALL_UNANSWERED, SystemEvent
from agent.mapping.tracker import CallTracker, log_key
from agent.metrics import Metrics

log = logging.getLogger("agent.ingest.pump")

COMPLETIONS = frozenset({CALL_ANSWERED, CALL_UNANSWERED})
_CALL_FIELDS = ("direction", "duration", "talk_duration", "extension", "offered_extensions", "answered_extensions",
                "trunk", "reconciled", "adopted")

BATCH = 256
HOUSEKEEPING_EVERY = 60.0  # s; the daemon passes EVENT_AGENT_MAPPING__HOUSEKEEPING_INTERVAL


def describe_call(event: SystemEvent) -> str:
    """One log line for a completed call: its outcome and shape, never a parameter value of an action; values from
    the PBX escaped (a Linkedid with a line feed stays on this line)."""
    fields = " ".join(f"{name}={event.params[name]}" for name in _CALL_FIELDS if event.params.get(name))
    return printable(f"call {event.call_id} {event.name} {fields}".rstrip())


class Pump:
    """Consumes the AMI queue until cancelled; `wait_processed(n)` lets tests run until idle."""

    def __init__(self, queue: asyncio.Queue[AmiMessage], tracker: CallTracker, sink: Sink, metrics: Metrics,
                 clock: Callable[[], float], *, housekeeping_every: float = HOUSEKEEPING_EVERY,
                 tracker_log: TrackerLog | None = None) -> None:
        self._queue = queue
        self._log = tracker_log
        self._tracker = tracker
        self._sink = sink
        self._metrics = metrics
        self._clock = clock
        self._every = housekeeping_every
        self._next_housekeeping = clock() + housekeeping_every
        self._pulse = asyncio.Event()
        self.ami_clock = AmiClock(clock)
        self.processed = 0
        self.housekeepings = 0

    async def run(self) -> None:
        while True:
            messages = await self._next_batch()
            await self._maybe_housekeep()
            if messages:
                await self._process(messages)
                for _ in messages:
                    self._queue.task_done()
                self.processed += len(messages)
                self._pulse.set()
                self._pulse = asyncio.Event()

    async def wait_processed(self, count: int) -> None:
        """Return once `count` messages have been processed since start."""
        while self.processed < count:
            await self._pulse.wait()

    async def _next_batch(self) -> list[AmiMessage]:
        """The next message, and those already queued behind it (up to BATCH): one outbox transaction for all.
        Empty when the next housekeeping falls due first."""
        batch: list[AmiMessage] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, self._next_housekeeping - self._clock())):
                batch.append(await self._queue.get())
        while batch and len(batch) < BATCH and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _process(self, messages: Sequence[AmiMessage]) -> None:
        """Supervision point: a message that fails is logged with the message and counted; the rest go on."""
        events: list[SystemEvent] = []
        for message in messages:
            try:
                events += self.translate(message)
            except Exception:
                self._metrics.pump_errors.inc()
                log.exception("failed to process AMI message %r", message)
            self._note(message)
        try:
            await self._emit(events)
        except Exception:
            self._metrics.pump_errors.inc()
            log.exception("failed to dispatch %d system events: %s", len(events),
                          printable(", ".join(f"{e.name}/{e.call_id}" for e in events)))
        if self._log is not None:
            self._log.flush()  # after the outbox rows: the log never runs ahead of what was emitted

    def _note(self, message: AmiMessage) -> None:
        """Tell the tracker log what this message taught the tracker, and which calls it completed."""
        if self._log is None:
            return
        if isinstance(message, AmiEvent) and (key := log_key(message)):
            self._log.add(key, message)
        links, closed = self._tracker.take_changes()
        if links or closed:
            self._log.changes(links, closed)

    def translate(self, message: AmiMessage) -> list[SystemEvent]:
        """The system events one queue message causes (tracker only; no I/O)."""
        if isinstance(message, AmiEvent):
            self._metrics.ami_events.inc()
            self.ami_clock.seen(message)
            return self._tracker.feed(message)
        if isinstance(message, ConnectionLost):
            log.warning("AMI connection lost: %s", printable(message.reason))
            return self._tracker.connection_lost(self.ami_clock.at(message.at))
        if isinstance(message, ConnectionUp):
            return self._resync(message)
        return []

    def _resync(self, message: ConnectionUp) -> list[SystemEvent]:
        """Reconcile with the snapshot; without one, calls in progress are left alone (not completed)."""
        if message.channels is None:
            log.warning("AMI connected without a CoreShowChannels snapshot (refused): no resync; %d calls in "
                        "progress complete normally or expire after the stuck-call timeout",
                        self._tracker.calls_in_progress)
            return []
        log.info("AMI connected; resync with %d live channels", len(message.channels))
        at = message.resync_at if message.stamped else self.ami_clock.at(message.resync_at)
        return self._tracker.resync(message.channels, at)

    async def _emit(self, events: Sequence[SystemEvent]) -> None:
        for event in events:
            self._metrics.system_events.inc(event.name)
            if event.name in COMPLETIONS:
                log.info("%s", describe_call(event))
        if events:
            await self._sink.put(events)

    async def _maybe_housekeep(self) -> None:
        now = self._clock()
        if now < self._next_housekeeping:
            return
        self._next_housekeeping = now + self._every
        await self.housekeep()

    async def housekeep(self) -> None:
        """Expire stuck calls at the AMI clock's now; prune the tracker log to the calls still in progress."""
        self.housekeepings += 1
        try:
            await self._emit(self._tracker.expire(self.ami_clock.now()))
        except Exception:
            self._metrics.pump_errors.inc()
            log.exception("failed to expire stuck calls")
        if self._log is not None:
            self._log.changes(*self._tracker.take_changes())
            self._log.keep_only(self._tracker.open_calls())
            self._log.flush()
