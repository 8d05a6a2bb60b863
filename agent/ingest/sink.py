"""Where the pump hands the system events it emits: the `Sink`, declared here and implemented below.

The event path runs one way (docs/architecture.md): AMI queue -> pump -> tracker -> `Sink.put(events)`. In the
daemon the pump's sink is the `Backlog` (agent/ingest/backlog.py), itself a sink that writes through to delivery's
`Dispatcher` (agent/webhooks/dispatcher.py: outbox rows, committed, then handed to the sender). `put` returns once
the events are safe: committed to the outbox, or held in memory while the database refuses writes; it raises
only for errors that waiting cannot fix, which reach the pump's supervision point.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from agent.mapping.catalog import SystemEvent


class Sink(Protocol):
    """Takes one batch of system events, in emission order."""

    async def put(self, events: Sequence[SystemEvent]) -> None: ...
