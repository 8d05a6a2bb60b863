"""The activity log: one row per delivery attempt or Save & Test, searched by the admin API and the page."""

# ruff: noqa: S608  (SQL is built from constant fragments only; every value is a bound parameter)

from __future__ import annotations

from typing import Any

import aiosqlite

from agent.store.database import Tables, insert_rows, like_pattern, page_bounds
from agent.store.records import Activity, NewActivity, NotFound, Page

ACTIVITY_COLUMNS = ("action", "action_id", "event", "call_id", "attempt", "status", "message", "duration_ms", "date")


def activity_values(a: NewActivity) -> tuple[Any, ...]:
    """The values of ACTIVITY_COLUMNS for `a`, in that order."""
    return (a.action, a.action_id, a.event, a.call_id, a.attempt, a.status, a.message, a.duration_ms, a.date)


def _activity(row: aiosqlite.Row) -> Activity:
    return Activity(
        id=row["id"], action=row["action"], action_id=row["action_id"], event=row["event"], call_id=row["call_id"],
        attempt=row["attempt"], status=row["status"], message=row["message"], duration_ms=row["duration_ms"],
        date=row["date"],
    )


class ActivityTable(Tables):
    """Table `activity` (a delivery's outcome adds its row with the outbox update: agent/store/deliveries.py)."""

    async def add_activity(self, activity: NewActivity) -> Activity:
        async with self._db.write() as db:
            activity_id = await insert_rows(db, "activity", ACTIVITY_COLUMNS, [activity_values(activity)])
        row = await self._db.row("SELECT * FROM activity WHERE id = ?", (activity_id,))
        if row is None:  # purged meanwhile
            raise NotFound(f"activity {activity_id} does not exist")
        return _activity(row)

    async def search_activity(
        self, search: str = "", *, action: str | None = None, event: str | None = None,
        status: int | None = None, failed: bool | None = None, page: int = 1, per_page: int = 50,
    ) -> Page[Activity]:
        """Attempts newest first. `search` looks in action, event, call id and message; `failed` = not 2xx."""
        clauses = ["(action LIKE ?1 ESCAPE '\\' OR event LIKE ?1 ESCAPE '\\' OR call_id LIKE ?1 ESCAPE '\\' "
                   "OR message LIKE ?1 ESCAPE '\\')"]
        params: list[Any] = [like_pattern(search)]
        for clause, value in (("action = ?", action), ("event = ?", event), ("status = ?", status)):
            if value is not None:
                params.append(value)
                clauses.append(clause.replace("?", f"?{len(params)}"))
        if failed is not None:
            clauses.append("NOT (status BETWEEN 200 AND 299)" if failed else "status BETWEEN 200 AND 299")
        where = " AND ".join(clauses)
        size, offset = page_bounds(page, per_page)
        total = await self._db.count(f"SELECT COUNT(*) FROM activity WHERE {where}", params)
        rows = await self._db.rows(
            f"SELECT * FROM activity WHERE {where} ORDER BY date DESC, id DESC LIMIT {size} OFFSET {offset}", params
        )
        return Page([_activity(row) for row in rows], total)

    async def purge_activity(self, before: float) -> int:
        """Delete activity rows dated before `before`; returns how many."""
        async with self._db.write() as db:
            cursor = await db.execute("DELETE FROM activity WHERE date < ?", (before,))
            return cursor.rowcount
