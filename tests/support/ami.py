"""Test support for the AMI client: a simulator on loopback, a client on it, and a tracker pump."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from agent.ami.client import AmiClient
from agent.ami.events import AmiEvent, AmiMessage, ConnectionLost, ConnectionUp
from agent.devtools.simulator import AmiSimulator
from agent.ingest.pump import Pump
from agent.mapping.catalog import SystemEvent
from agent.mapping.tracker import CallTracker
from agent.metrics import Metrics
from tests.support.delivery import RecordingSink
from tests.support.polling import WAIT
from tests.support.settings import ami_settings


@dataclass
class Link:
    """A running simulator and client, and the client's queue."""

    simulator: AmiSimulator
    client: AmiClient
    queue: asyncio.Queue[AmiMessage]
    received: list[AmiMessage] = field(default_factory=list)
    _mark: int = 0

    async def next(self) -> AmiMessage:
        message = await asyncio.wait_for(self.queue.get(), WAIT)
        self.received.append(message)
        return message

    async def until(self, done: Callable[[AmiMessage], bool]) -> AmiMessage:
        """Read the queue until a message satisfies `done`; return that message."""
        while not done(message := await self.next()):
            pass
        return message

    async def up(self) -> None:
        """Make sure the ConnectionUp of the current connection has been read (it may follow the events)."""
        if not any(isinstance(message, ConnectionUp) for message in self.received[self._mark :]):
            await self.until(is_up)
        self._mark = len(self.received)

    async def events(self, count: int) -> list[AmiEvent]:
        """Read the queue until `count` more AmiEvents arrived; return them."""
        events: list[AmiEvent] = []
        while len(events) < count:
            message = await self.next()
            if isinstance(message, AmiEvent):
                events.append(message)
        return events


@asynccontextmanager
async def running_link(
    simulator: AmiSimulator, clock: Callable[[], float] = time.time, **overrides: Any
) -> AsyncIterator[Link]:
    port = await simulator.start()
    queue: asyncio.Queue[AmiMessage] = asyncio.Queue()
    client = AmiClient(ami_settings(port, **overrides), queue, clock)
    task = asyncio.create_task(client.run())
    try:
        yield Link(simulator, client, queue)
    finally:
        await client.close()
        await asyncio.wait_for(task, WAIT)
        await simulator.stop()


def is_up(message: AmiMessage) -> bool:
    return isinstance(message, ConnectionUp)


def is_lost(message: AmiMessage) -> bool:
    return isinstance(message, ConnectionLost)


def pump(tracker: CallTracker, messages: list[AmiMessage]) -> list[SystemEvent]:
    """What the daemon's pump (agent.ingest.pump.Pump.translate) does with the queue: events, losses and resyncs."""
    daemon_pump = Pump(asyncio.Queue(), tracker, RecordingSink(), Metrics(), time.time)  # translate never puts
    return [event for message in messages for event in daemon_pump.translate(message)]


def event_frame(name: str, **headers: str) -> bytes:
    """One AMI event frame as Asterisk writes it."""
    lines = [f"Event: {name}", *(f"{key}: {value}" for key, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
