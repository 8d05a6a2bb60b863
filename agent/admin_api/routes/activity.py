"""The activity log: every delivery attempt and Save & Test, newest first, searchable and filterable."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from agent.admin_api.errors import invalid
from agent.admin_api.payload import paging
from agent.admin_api.routing import API_PREFIX, PAGING, Param, Route, deps
from agent.store.records import Activity


def activity_json(row: Activity) -> dict[str, Any]:
    return {
        "id": row.id, "action": row.action, "action_id": row.action_id, "event": row.event,
        "call_id": row.call_id, "attempt": row.attempt, "status": row.status, "message": row.message,
        "duration_ms": round(row.duration_ms), "date": iso_utc(row.date),
    }


def iso_utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _status_filter(request: web.Request) -> int | None:
    raw = request.query.get("status", "")
    if raw == "":
        return None
    if not raw.isdigit() or int(raw) > 999:
        raise invalid("query.status", "must be an HTTP status code (0 when there was no response)")
    return int(raw)


def _failed_filter(request: web.Request) -> bool | None:
    raw = request.query.get("failed", "").lower()
    if raw == "":
        return None
    if raw not in {"true", "false", "1", "0"}:
        raise invalid("query.failed", "must be true or false")
    return raw in {"true", "1"}


async def list_activity(request: web.Request) -> web.Response:
    page = paging(request)
    rows, total = await deps(request).store.search_activity(
        page.search, action=request.query.get("action") or None, event=request.query.get("event") or None,
        status=_status_filter(request), failed=_failed_filter(request), page=page.page, per_page=page.per_page,
    )
    return web.json_response(page.envelope([activity_json(row) for row in rows], total))


ROUTES = (
    Route("GET", f"{API_PREFIX}/activity", list_activity, "Search the activity log, newest first", "activity",
          response="ActivityPage", errors=(422,), params=(
              *PAGING,
              Param("action", "only this action name"),
              Param("event", "only this event (or test id)"),
              Param("status", "only this HTTP status (0: no response)", "integer"),
              Param("failed", "true: only non-2xx attempts; false: only 2xx", "boolean"),
          )),
)
