"""What the admin API needs from the daemon, passed in explicitly (no globals).

The daemon (agent/app.py) builds one `ApiDeps` and calls `create_app(deps)`; tests build their own with a real
Store on a SQLite file in tmp_path.

Contract for the daemon:
- `settings` is anything of the shape `ApiSettings` (agent/admin_api/config.py): the daemon passes its settings.
- `status()` returns the live state as plain JSON-able data, e.g. `{"ami": {"connected": True,
  "last_event_at": "2026-...Z"}, "store": {"ok": True, "error": None, "since": None, "backlog": 0, ...},
  "calls_in_progress": 3, "outbox_depth": 0, "counters": {...}}`: the daemon passes a `LiveStatus`
  (agent/admin_api/livestatus.py), which asks each component for its part. The API adds nothing secret to it and
  serves it as is under `/api/v1/status`.
- `send_test(action, values)` renders `action` with `values` (system sample values merged with custom
  parameters), sends it once now with the daemon's sender and returns the outcome; it must not raise for
  delivery failures (status 0 and the error text instead) and must not write the activity row: the API
  records it as event `test.<action id>.<unix time>`.
- `metrics.render()` returns the Prometheus text exposition.
- `on_config_change()` is called after every committed change to events, settings, actions or parameters
  (so the dispatcher can refresh its caches). It must not block.
- `clock()` returns the current time, timezone-aware.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from agent.admin_api.config import ApiSettings
    from agent.store.facade import Store
    from agent.store.model import Action


@dataclass(frozen=True, slots=True)
class TestResult:
    """One Save & Test attempt: HTTP status (0 when no response), response body or error text, duration."""

    __test__ = False  # not a pytest test class despite its name

    status: int
    message: str
    duration_ms: int


class MetricsRenderer(Protocol):
    """Anything that renders the Prometheus text exposition."""

    def render(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ApiDeps:
    """Everything the admin API handlers use; see the module docstring for the daemon's side of it."""

    store: Store
    settings: ApiSettings
    token: str
    status: Callable[[], Mapping[str, object]]
    send_test: Callable[[Action, Mapping[str, str]], Awaitable[TestResult]]
    metrics: MetricsRenderer
    on_config_change: Callable[[], None]
    clock: Callable[[], datetime]
