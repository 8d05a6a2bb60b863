"""Whether the agent's own writes reach its SQLite database, and which failures are worth waiting out.

A *transient* store error is one the database recovers from without the agent changing anything: locked by
another process past the busy timeout, the disk full, an I/O error, a read-only or unopenable file that an
administrator can fix. The writers (agent/store/writer.py: the pump's backlog, the tracker log, the sender's
outcomes, the purge) keep what they could not write in memory and retry with a capped backoff (`Backoff`).
Anything else (an SQL or schema error, a corrupt file, a closed connection) is a bug or damage that waiting does
not fix: it goes to the caller's supervision point.

`StoreHealth` is what `status` shows under "store": one warning when writes start failing, one info line per
writer when its writes go through again, never a line per retry.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass

log = logging.getLogger("agent.store.facade")

TRANSIENT_CODES = frozenset({
    sqlite3.SQLITE_BUSY,  # "database is locked": another process holds the write lock past busy_timeout
    sqlite3.SQLITE_LOCKED,  # "database table is locked"
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_READONLY,  # permissions or a read-only remount, fixable by an administrator
    sqlite3.SQLITE_IOERR,  # "disk I/O error" (and its extended codes)
    sqlite3.SQLITE_FULL,  # "database or disk is full"
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
})
TRANSIENT_TEXTS = ("database is locked", "database table is locked", "disk is full", "disk i/o error",
                   "readonly database", "unable to open database file", "out of memory")


def transient(exc: BaseException) -> bool:
    """Whether `exc` is a store error worth retrying later (see the module docstring)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in TRANSIENT_CODES
    text = str(exc).lower()
    return any(part in text for part in TRANSIENT_TEXTS)


def describe(exc: BaseException) -> str:
    """The error as the administrator sees it ("database is locked"): SQLite's own text, never a value."""
    return str(exc) or type(exc).__name__


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits between retries of a refused write: `first`, doubling up to `cap` (seconds)."""

    first: float = 0.2
    cap: float = 5.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(delay * 2.0, self.cap)


WRITE_RETRY = Backoff()  # 0.2 s doubling up to 5 s: a released lock or freed disk is noticed within seconds


class StoreHealth:
    """The database as the agent's writers find it; `failed`/`resumed` are called by each writer by name."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._failing: dict[str, str] = {}
        self.error: str | None = None
        self.since: float | None = None

    @property
    def ok(self) -> bool:
        return not self._failing

    def failed(self, writer: str, exc: BaseException) -> None:
        """`writer` (e.g. "system events") could not write because of transient `exc`; logged once per outage."""
        self.error = describe(exc)
        if not self._failing:
            self.since = self._clock()
            log.warning("database unavailable (%s: %s): retrying until it accepts writes again; what waits is "
                        "kept in memory and calls are still tracked", writer, self.error)
        self._failing[writer] = self.error

    def resumed(self, writer: str, written: str) -> None:
        """`writer`'s writes go through again; `written` says what was written late (for the one log line)."""
        if self._failing.pop(writer, None) is None:
            return
        lasted = self._clock() - (self.since if self.since is not None else self._clock())
        log.info("database accepts writes again (%s, after %.1f s): %s", writer, lasted, written)
        if not self._failing:
            self.error = None
            self.since = None
