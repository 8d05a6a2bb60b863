"""All SQL of the agent behind one object: `Store`, built from one table group per module over one connection.

| module | tables |
| --- | --- |
| `configuration.py` | events and their bound actions, the global switch, actions, custom parameters |
| `deliveries.py` | the outbox, and the activity row written with each attempt's outcome |
| `activitylog.py` | the activity log |
| `call_rates.py` | the rate table of call rating |
| `framelog.py` | the tracker log's frames |

Each group is a base class of `Store` reading and writing through the one `Database` (database.py: the only
writer, its lock and its transactions); the rows it takes and returns are the frozen records of records.py.
"""

from __future__ import annotations

from pathlib import Path

from agent.store.activitylog import ActivityTable
from agent.store.call_rates import CallRateTable
from agent.store.configuration import ConfigurationTables
from agent.store.database import BUSY_TIMEOUT, Database
from agent.store.deliveries import SETTLE_VIEW, GroupCommit, OutboxTable
from agent.store.framelog import FrameLogTable
from agent.store.records import (
    Activity,
    Conflict,
    Delivery,
    EventRecord,
    LogFrame,
    NewActivity,
    NewDelivery,
    NotFound,
    Page,
    RateRow,
    StoreError,
    StoreSettings,
)

__all__ = [
    "Activity", "Conflict", "Delivery", "EventRecord", "LogFrame", "NewActivity", "NewDelivery", "NotFound", "Page",
    "RateRow", "Store", "StoreError", "StoreSettings",
]


class Store(ConfigurationTables, OutboxTable, ActivityTable, CallRateTable, FrameLogTable):
    """The agent's SQLite database. Build with `await Store.open(path)`; `await close()` at the end."""

    def __init__(self, db: Database, last_seq: int = 0) -> None:
        self._db = db
        self._seq = last_seq
        self._settles = GroupCommit(db)

    @classmethod
    async def open(cls, path: Path | str, *, busy_timeout: float = BUSY_TIMEOUT) -> Store:
        """Open (and migrate) the database; a write waits up to `busy_timeout` s for another process's lock."""
        db = await Database.open(path, busy_timeout=busy_timeout, setup=SETTLE_VIEW)
        try:
            return cls(db, await OutboxTable.last_seq(db))
        except BaseException:
            await db.close()  # else its worker threads keep the process alive (Database.open)
            raise

    @property
    def path(self) -> Path:
        """The database file."""
        return self._db.path

    async def close(self) -> None:
        await self._db.close()
