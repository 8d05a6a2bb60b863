"""Retention: the activity log keeps `activity_retention_days`; finished outbox rows go after FINISHED_KEEP.

Every PURGE_EVERY seconds, and once at start, `purge()` deletes activity rows older than the retention and
finished outbox rows (their outcome is in the activity log; the rendered requests need not sit on disk). The
deletes go through a store writer (agent/store/writer.py): while the database refuses writes the purge waits
and tries again like every other writer, and the store's health says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from agent.store.facade import Store
from agent.store.health import StoreHealth
from agent.store.writer import StoreWriter

log = logging.getLogger("agent.delivery")

PURGE_EVERY = 3600.0
FINISHED_KEEP = 3600.0
DAY = 86400.0
WRITER = "activity purge"


class Retention:
    """Purges what is past its retention: `purge()` once, `run()` every PURGE_EVERY seconds until cancelled."""

    def __init__(self, store: Store, health: StoreHealth, clock: Callable[[], float], *, days: int) -> None:
        self._store = store
        self._clock = clock
        self._days = days
        self._writer = StoreWriter(WRITER, health, late=lambda _: "old activity purged")

    async def purge(self) -> None:
        """Forget activity rows older than the retention, and finished outbox rows after FINISHED_KEEP."""
        now = self._clock()
        removed = await self._store.purge_activity(now - self._days * DAY)
        await self._store.purge_outbox(now - FINISHED_KEEP)
        if removed:
            log.info("purged %d activity rows older than %d days", removed, self._days)

    async def run(self) -> None:
        while True:
            try:
                await self._writer.hold(self.purge)
            except Exception:  # supervision point: not an outage (the writer waits those out); next time again
                log.exception("activity purge failed; trying again later")
            await asyncio.sleep(PURGE_EVERY)
