"""The tracker log's rows: the AMI frames of the calls in progress, filed under a tag per call group, so that a
restarted agent knows what the killed one knew (agent/ingest/trackerlog.py decides what is written when)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import aiosqlite

from agent.store.database import Tables, insert_rows
from agent.store.records import LogFrame

LOG_CHUNK = 500  # tracker log frames per INSERT statement


async def _append(db: aiosqlite.Connection, frames: Sequence[LogFrame]) -> None:
    if frames:
        await insert_rows(db, "tracker_log", LogFrame._fields, frames)


class FrameLogTable(Tables):
    """Table `tracker_log`."""

    async def write_tracker_log(self, frames: Sequence[LogFrame], closed: Iterable[str] = (),
                                keep: Iterable[str] | None = None, *,
                                retags: Sequence[tuple[str, str]] = ()) -> None:
        """One transaction: file the frames of each `retags` (old, new) tag under the new one, drop the frames
        of `closed` tags (and, given `keep`, of every tag not in it), then append `frames` in order."""
        closed = sorted(closed)
        if not closed and not retags and keep is None:
            await self._db.chunked(_append, list(frames), LOG_CHUNK)
            return
        async with self._db.write() as db:
            for old, new in retags:
                await db.execute("UPDATE tracker_log SET call_id = ? WHERE call_id = ?", (new, old))
            if closed:
                await db.execute("DELETE FROM tracker_log WHERE call_id IN (SELECT value FROM json_each(?))",
                                 (json.dumps(closed),))
            if keep is not None:
                await db.execute("DELETE FROM tracker_log WHERE call_id NOT IN (SELECT value FROM json_each(?))",
                                 (json.dumps(sorted(keep)),))
            for start in range(0, len(frames), LOG_CHUNK):
                await _append(db, frames[start:start + LOG_CHUNK])

    async def clear_tracker_log(self) -> None:
        async with self._db.write() as db:
            await db.execute("DELETE FROM tracker_log")

    async def retag_tracker_log(self, tag: str) -> None:
        """File every stored frame under one tag (after a restart: the group of the calls restored)."""
        async with self._db.write() as db:
            await db.execute("UPDATE tracker_log SET call_id = ?", (tag,))

    async def tracker_log(self) -> list[LogFrame]:
        """Every logged frame, in arrival order."""
        rows = await self._db.rows("SELECT call_id, received_at, frame FROM tracker_log ORDER BY id")
        return [LogFrame(str(row[0]), float(row[1]), bytes(row[2])) for row in rows]
