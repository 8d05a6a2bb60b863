"""The document of GET /api/v1/status (and `event-agent status`): built when asked, from each component's part.

Each part comes from the component that knows it: the AMI link from the client (`AmiClient.status()`), calls in
progress from the tracker, the outbox depth and the outcomes waiting from the sender, the database from
`StoreHealth` and the pump's backlog, the counters from the metrics. Nothing is cached; times are ISO 8601 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from agent.ami.client import AmiClient, AmiStatus
from agent.ingest.backlog import Backlog
from agent.mapping.tracker import CallTracker
from agent.store.health import StoreHealth
from agent.webhooks.sender import Sender


class Counters(Protocol):
    """The metrics, as the plain counters the status shows."""

    def counters(self) -> dict[str, object]: ...


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def ami_part(ami: AmiStatus) -> dict[str, object]:
    """The AMI link: connected, last event, reconnects, malformed frames, the last error, read pauses."""
    return {"connected": ami.connected, "last_event_at": iso(ami.last_event_at), "events": ami.events,
            "reconnects": ami.reconnects, "malformed_frames": ami.malformed_frames, "last_error": ami.last_error,
            "paused": ami.paused, "pauses": ami.pauses, "paused_seconds": round(ami.paused_seconds, 3)}


def store_part(health: StoreHealth, backlog: Backlog, sender: Sender) -> dict[str, object]:
    """Whether the database accepts writes; what is held in memory meanwhile and what was dropped."""
    return {"ok": health.ok, "error": health.error, "since": iso(health.since), "backlog": len(backlog),
            "dropped": backlog.dropped, "outcomes_waiting": sender.outcomes_waiting}


class LiveStatus:
    """Callable: the status document now (see the module docstring)."""

    def __init__(self, *, ami: AmiClient, tracker: CallTracker, sender: Sender, health: StoreHealth,
                 backlog: Backlog, metrics: Counters) -> None:
        self._ami = ami
        self._tracker = tracker
        self._sender = sender
        self._health = health
        self._backlog = backlog
        self._metrics = metrics

    def __call__(self) -> dict[str, object]:
        return {
            "ami": ami_part(self._ami.status()),
            "store": store_part(self._health, self._backlog, self._sender),
            "calls_in_progress": self._tracker.calls_in_progress,
            "outbox_depth": self._sender.depth,
            "counters": self._metrics.counters(),
        }
