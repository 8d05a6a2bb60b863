"""The one retrying writer: holds a write of the agent's own rows through a database that refuses it for a while.

Whatever must not be lost when the database is locked past the busy timeout or the disk is full goes through a
`StoreWriter`, one per kind of write, named for `StoreHealth`: the pump's backlog of system events
(agent/ingest/backlog.py), the tracker log (agent/ingest/trackerlog.py), the sender's delivery outcomes and its
paging of pending rows (agent/webhooks/sender.py), the activity purge (agent/webhooks/retention.py).

A write is a coroutine function, run again on each try, so it can take in what gathered meanwhile. `hold(write)`:

- a transient error (`agent.store.health.transient`) is reported to `StoreHealth` (one warning per outage, not
  one per try) and the write is tried again after a capped backoff (0.2 s doubling up to 5 s by default);
  `hurry()` cuts the current waits short (a stop that wants one more try now);
- any other error is raised at once, to the caller's supervision point: waiting does not fix a bug or damage;
- once the last write this writer was holding has gone through, `StoreHealth.resumed` logs one line saying
  what was written late (`late(n)`, n = the writes that had to wait).

`attempt(write)` is a single try, for a caller that must not wait inline (the pump hands a batch to the backlog
and goes on); when it is refused, the caller keeps the data and calls `hold(write, refused=True)` in a task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from agent.store.health import WRITE_RETRY, Backoff, StoreHealth, transient

Write = Callable[[], Awaitable[object]]


class StoreWriter:
    """Holds writes of one kind (`name`, e.g. "system events") until the database takes them."""

    def __init__(self, name: str, health: StoreHealth, *, late: Callable[[int], str],
                 backoff: Backoff = WRITE_RETRY) -> None:
        self.name = name
        self._health = health
        self._late = late
        self._backoff = backoff
        self._hurry = asyncio.Event()
        self._written_late = 0
        self.waiting = 0

    async def attempt(self, write: Write) -> bool:
        """One try: True once written; False when the store refused it for now (reported); other errors raise."""
        try:
            await write()
        except Exception as exc:
            if not transient(exc):
                raise
            self._health.failed(self.name, exc)
            return False
        return True

    async def hold(self, write: Write, *, refused: bool = False) -> None:
        """Run `write` until the store takes it (see the module docstring). `refused`: the caller's own `attempt`
        was just refused, so wait before trying again."""
        if not refused and await self.attempt(write):
            return
        self.waiting += 1
        try:
            await self._retry(write)
        except asyncio.CancelledError:
            self.waiting -= 1
            raise
        except Exception:
            self._ended(written=False)  # the store answered again, with an error that is not an outage
            raise
        self._ended(written=True)

    def hurry(self) -> None:
        """Wake every write waiting for its next try: it tries now."""
        self._hurry.set()
        self._hurry = asyncio.Event()

    async def _retry(self, write: Write) -> None:
        delays = self._backoff.delays()
        while True:
            hurry = self._hurry
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(next(delays)):
                    await hurry.wait()
            if await self.attempt(write):
                return

    def _ended(self, *, written: bool) -> None:
        self.waiting -= 1
        self._written_late += 1 if written else 0
        if not self.waiting:
            self._health.resumed(self.name, self._late(self._written_late))
            self._written_late = 0
