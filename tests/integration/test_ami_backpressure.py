"""Backpressure on the AMI link: a full queue pauses reading instead of dropping anything, in order, without
the link being torn down (the inlet alone, then the client against the simulator on loopback)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from agent.ami.client import AmiClient
from agent.ami.events import AmiEvent, AmiMessage, ConnectionLost, ConnectionUp
from agent.ami.inlet import Inlet
from agent.devtools.replay import as_line, fixture_config, replay
from agent.devtools.simulator import AmiSimulator
from agent.devtools.trace import trace_events
from agent.mapping.tracker import CallTracker
from tests.support.ami import pump
from tests.support.paths import TRACES
from tests.support.polling import WAIT, eventually
from tests.support.settings import ami_settings

TRACE_13 = TRACES / "13_load_mixed_35_calls.ami"


def _event(number: int) -> AmiEvent:
    return AmiEvent({"Event": "UserEvent", "N": str(number)}, float(number))


def _key(message: AmiMessage) -> tuple[str, str, str]:
    """What identifies a trace event in order: name, channel id and time stamp."""
    if not isinstance(message, AmiEvent):
        return (type(message).__name__, "", "")
    return (message.name, message.get("Uniqueid"), message.get("Timestamp"))


def _trace_keys() -> list[tuple[str, str, str]]:
    return [(e.headers["Event"], e.headers.get("Uniqueid", ""), e.headers.get("Timestamp", ""))
            for e in trace_events(TRACE_13.read_bytes())]


@dataclass
class Calls:
    """What an inlet told its connection: one letter per call, `h`old or `r`elease."""

    log: list[str] = field(default_factory=list)

    def hold(self) -> None:
        self.log.append("h")

    def release(self) -> None:
        self.log.append("r")


class TestInlet:
    async def test_overflow_waits_in_order(self) -> None:
        """Given a queue of 2, when 5 messages are put at once, then 2 are queued, 3 wait, reads are held once;
        when the consumer takes them, all 5 come out in order and reads are released once."""
        queue: asyncio.Queue[AmiMessage] = asyncio.Queue(2)
        calls = Calls()
        inlet = Inlet(queue, calls.hold, calls.release)
        inlet.put([_event(n) for n in range(5)])
        assert (queue.qsize(), len(inlet), calls.log) == (2, 3, ["h"])
        taken = [await asyncio.wait_for(queue.get(), WAIT) for _ in range(5)]
        await asyncio.wait_for(inlet.flushed(), WAIT)
        assert [message.get("N") for message in taken if isinstance(message, AmiEvent)] == list("01234")
        assert (len(inlet), calls.log) == (0, ["h", "r"])

    async def test_later_messages_queue_behind(self) -> None:
        """Given messages waiting, when a connection message comes while the queue has room again, then it waits
        behind them instead of overtaking them."""
        queue: asyncio.Queue[AmiMessage] = asyncio.Queue(1)
        inlet = Inlet(queue, Calls().hold, Calls().release)
        inlet.put([_event(0), _event(1)])
        first = queue.get_nowait()
        inlet.put([ConnectionLost(at=2.0, reason="gone")])
        rest = [await asyncio.wait_for(queue.get(), WAIT) for _ in range(2)]
        assert [_key(message)[0] for message in (first, *rest)] == ["UserEvent", "UserEvent", "ConnectionLost"]
        assert isinstance(rest[0], AmiEvent)
        assert rest[0].get("N") == "1"

    async def test_unbounded_queue_never_holds(self) -> None:
        """Given an unbounded queue, when many messages are put, then all are queued and reads are never held."""
        queue: asyncio.Queue[AmiMessage] = asyncio.Queue()
        calls = Calls()
        inlet = Inlet(queue, calls.hold, calls.release)
        inlet.put([_event(n) for n in range(10_000)])
        assert (queue.qsize(), len(inlet), calls.log) == (10_000, 0, [])


@dataclass
class Slow:
    """A client on a tiny queue and a consumer that takes one message at a time, yielding between them."""

    client: AmiClient
    queue: asyncio.Queue[AmiMessage]
    received: list[AmiMessage] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    async def consume(self) -> None:
        while True:
            await self.gate.wait()
            self.received.append(await self.queue.get())
            await asyncio.sleep(0.0005 if len(self.received) % 50 == 0 else 0)

    def events(self) -> list[AmiEvent]:
        return [message for message in self.received if isinstance(message, AmiEvent)]

    async def until(self, done: Callable[[], bool]) -> None:
        await eventually(done, within=WAIT * 3)


@asynccontextmanager
async def slow_link(simulator: AmiSimulator, size: int, **overrides: float) -> AsyncIterator[Slow]:
    port = await simulator.start()
    queue: asyncio.Queue[AmiMessage] = asyncio.Queue(size)
    client = AmiClient(ami_settings(port, **overrides), queue, lambda: 0.0)
    slow = Slow(client, queue)
    slow.gate.set()
    tasks = [asyncio.create_task(client.run()), asyncio.create_task(slow.consume())]
    try:
        yield slow
    finally:
        slow.gate.set()
        await client.close()
        await asyncio.wait_for(tasks[0], WAIT)
        tasks[1].cancel()
        await asyncio.gather(tasks[1], return_exceptions=True)
        await simulator.stop()


class TestBackpressure:
    async def test_every_event_in_order(self) -> None:
        """Given the 35-call trace (1 MB) streamed at full speed into a queue of 8 and a slow consumer, then reading
        is paused, every event arrives once and in trace order, the link is never torn down, and the tracker
        gives exactly offline replay's system events."""
        simulator = AmiSimulator([TRACE_13])
        async with slow_link(simulator, 8) as link:
            await link.until(lambda: len(link.events()) >= simulator.event_count)
            status = link.client.status()
        assert [_key(event) for event in link.events()] == _trace_keys()
        assert status.pauses > 0
        assert (status.reconnects, status.waiting, status.paused) == (0, 0, False)
        assert [type(m) for m in link.received].count(ConnectionUp) == 1
        assert not any(isinstance(message, ConnectionLost) for message in link.received)
        config = fixture_config(TRACE_13)
        live = [as_line(event) for event in pump(CallTracker(config), link.received)]
        assert live == [as_line(event) for event in replay(TRACE_13, config)]

    async def test_pause_is_not_a_dead_link(self) -> None:
        """Given a consumer that stops for ten ping intervals while the queue is full and reading paused, then the
        watchdog does not abort the link: no ConnectionLost, no reconnect, and every event arrives afterwards."""
        simulator = AmiSimulator([TRACE_13])
        async with slow_link(simulator, 4, ping_interval=0.1, connect_timeout=0.5) as link:
            link.gate.clear()
            await link.until(lambda: link.client.status().paused)
            await asyncio.sleep(1.0)
            paused = link.client.status()
            link.gate.set()
            await link.until(lambda: len(link.events()) >= simulator.event_count)
            status = link.client.status()
        assert paused.paused
        assert paused.paused_seconds > 0
        assert status.reconnects == 0
        assert not any(isinstance(message, ConnectionLost) for message in link.received)
        assert [_key(event) for event in link.events()] == _trace_keys()

    async def test_connection_messages_kept(self) -> None:
        """Given reading paused on a full queue of 4 and the server dropping the link meanwhile, then the consumer
        gets every event the client read, in trace order, then one ConnectionLost, then a ConnectionUp for the
        new login."""
        simulator = AmiSimulator([TRACE_13])
        simulator.pause_at(0)
        async with slow_link(simulator, 4) as link:
            # The first login's ConnectionUp follows its resync; once events fill the queue, the resync answer
            # waits unread behind them: let it arrive before any event does.
            await link.until(lambda: ConnectionUp in [type(m) for m in link.received])
            link.gate.clear()
            simulator.pause_at(300)
            await link.until(lambda: link.client.status().paused)
            simulator.drop_clients(resume_at=300)
            link.gate.set()
            await link.until(lambda: [type(m) for m in link.received].count(ConnectionUp) >= 2)
            status = link.client.status()
        names = [type(message).__name__ for message in link.received]
        lost = names.index("ConnectionLost")
        assert names.count("ConnectionLost") == 1
        assert names[:lost].count("ConnectionUp") == 1
        assert "ConnectionUp" in names[lost:]
        keys = [_key(event) for event in link.events()]
        assert len(keys) == status.events > 4
        assert keys == _trace_keys()[: len(keys)]
