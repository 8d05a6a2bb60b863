"""The AMI client's way into the consumer's queue: in order, never dropping a message, with backpressure.

The queue is bounded (the daemon's holds a few thousand messages). What a full queue cannot take waits here,
behind anything already waiting, and `hold()` is called: the client stops reading the socket. A feeder task
then puts the waiting messages with `await queue.put(...)`, which asyncio wakes as the consumer takes messages,
and calls `release()` once nothing waits: the client reads again. So memory is bounded by the queue, plus what
one read of the socket can bring (the transport reads at most 256 KiB at a time), plus a resync's held events.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence

from agent.ami.events import AmiMessage


class Inlet:
    """Hands messages to `queue` in order; `hold()` when the queue is full, `release()` once it took them all."""

    def __init__(self, queue: asyncio.Queue[AmiMessage], hold: Callable[[], None],
                 release: Callable[[], None]) -> None:
        self._queue = queue
        self._hold = hold
        self._release = release
        self._waiting: deque[AmiMessage] = deque()
        self._feeder: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        """Messages read but not yet in the queue."""
        return len(self._waiting)

    def put(self, messages: Sequence[AmiMessage]) -> None:
        """Queue `messages` now if there is room, else keep the rest waiting (in order) and hold the reads."""
        if not self._waiting:
            room = self._room(len(messages))
            put = self._queue.put_nowait
            for message in messages[:room]:
                put(message)
            if room >= len(messages):
                return
            messages = messages[room:]
        self._waiting.extend(messages)
        self._hold()
        if self._feeder is None:
            self._feeder = asyncio.create_task(self._feed(), name="ami-inlet")

    async def flushed(self) -> None:
        """Return once every waiting message is in the queue (the consumer must be taking them)."""
        while (feeder := self._feeder) is not None:
            await asyncio.wait({feeder})

    def cancel(self) -> None:
        """Stop feeding (shutdown past its grace period); waiting messages stay unqueued."""
        if self._feeder is not None:
            self._feeder.cancel()

    def _room(self, wanted: int) -> int:
        if self._queue.maxsize <= 0:
            return wanted
        return max(0, self._queue.maxsize - self._queue.qsize())

    async def _feed(self) -> None:
        try:
            while self._waiting:
                await self._queue.put(self._waiting[0])  # asyncio wakes this when the consumer takes one
                self._waiting.popleft()
        finally:
            self._feeder = None
        self._release()
