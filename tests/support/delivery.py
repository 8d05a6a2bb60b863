"""A delivery engine on a real SQLite file (sender and dispatcher, no AMI), system events to feed it, and `Sink`s
(agent/ingest/sink.py) that record or hand on what a pump or a backlog puts."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from agent.mapping.catalog import SystemEvent
from agent.metrics import Metrics
from agent.settings import DeliverySettings
from agent.store.facade import Store
from agent.webhooks.dispatcher import Dispatcher
from agent.webhooks.retry import RetryPolicy
from agent.webhooks.sender import Sender
from tests.support.settings import fast_delivery


@dataclass
class Engine:
    store: Store
    sender: Sender
    dispatcher: Dispatcher
    metrics: Metrics


@asynccontextmanager
async def engine(path: Path, settings: DeliverySettings | None = None) -> AsyncIterator[Engine]:
    """A started sender and a dispatcher on the SQLite file `path`."""
    delivery = settings or fast_delivery()
    store = await Store.open(path)
    metrics = Metrics()
    policy = RetryPolicy.from_settings(delivery)
    sender = Sender(store, delivery, policy, metrics, time.time)
    dispatcher = Dispatcher(store, policy, sender.submit, metrics, time.time)
    await sender.start()
    try:
        yield Engine(store, sender, dispatcher, metrics)
    finally:
        await sender.close()
        await store.close()


@dataclass(frozen=True)
class FunctionSink:
    """A `Sink` that hands each batch to `write`: a recorder, a failing store, ..."""

    write: Callable[[Sequence[SystemEvent]], Awaitable[object]]

    async def put(self, events: Sequence[SystemEvent]) -> None:
        await self.write(events)


@dataclass
class RecordingSink:
    """A `Sink` that keeps every batch it is handed, in order."""

    events: list[SystemEvent] = field(default_factory=list)

    async def put(self, events: Sequence[SystemEvent]) -> None:
        self.events += events


def system_event(name: str, call_id: str, **params: str) -> SystemEvent:
    """A system event as the tracker emits it, with a caller and an extension unless `params` say otherwise."""
    base = {"call_id": call_id, "event": name, "event_id": f"{call_id}:{name}:{params.get('extension', '')}",
            "caller_id": "0311234567", "extension": "201"}
    return SystemEvent(name, call_id, {**base, **params})
