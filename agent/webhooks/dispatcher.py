"""System events -> outbox rows: gate on the global switch and the event's flag, render each bound action.

The `Dispatcher` is delivery's side of the pump's `Sink` (agent/ingest/sink.py; in the daemon behind the
`Backlog`): `put(events)` plans the rows, commits them in one transaction, counts them
(`event_agent_deliveries_enqueued_total`) and hands them to the sender (`submit`), in emission order.

The routing (switch, bindings, custom parameter values) is read from the store and cached until `invalidate()`
(the admin API calls it after every committed change), so a change applies to the next event without a restart.

Rendering costs about 25 us per (event, action) in the loop thread, so a large batch (a burst, a backlog being
written) is rendered RENDER_CHUNK events at a time with a yield to the event loop in between: a batch of 256
events never holds the loop for more than about one chunk's worth, and is still one transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from agent.mapping.catalog import EVENT_KEYS, SystemEvent
from agent.metrics import Metrics
from agent.store.facade import Store
from agent.store.model import Action
from agent.store.records import Delivery, NewDelivery
from agent.webhooks.request import render
from agent.webhooks.retry import RetryPolicy

RENDER_CHUNK = 32  # events rendered per event-loop step (about 1 ms with one bound action)


@dataclass(frozen=True, slots=True)
class Routing:
    """A snapshot of what the dispatcher reads from the store: the switch, the bindings, the parameter values
    (and which of them are secret)."""

    enabled: bool
    bindings: Mapping[str, tuple[Action, ...]]
    values: Mapping[str, str]
    secret_tags: frozenset[str] = frozenset()  # their values are redacted from every text about a request


async def load_routing(store: Store) -> Routing:
    enabled = (await store.get_settings()).actions_enabled
    bindings = {key: tuple(await store.bindings_for(key)) for key in sorted(EVENT_KEYS)}
    parameters = await store.list_parameters()
    return Routing(enabled, bindings, {p.tag: p.value for p in parameters},
                   frozenset(p.tag for p in parameters if p.secret))


def plan(routing: Routing, events: Sequence[SystemEvent], policy: RetryPolicy, now: float) -> list[NewDelivery]:
    """The outbox rows for `events` under `routing`, in emission order then binding order. Pure."""
    if not routing.enabled:
        return []
    rows: list[NewDelivery] = []
    for event in events:
        values = {**routing.values, **event.params}
        profile = policy.profile_for(event.name)
        for action in routing.bindings.get(event.name, ()):
            rows.append(NewDelivery(
                event_id=event.event_id, event=event.name, call_id=event.call_id, action_id=action.id or 0,
                action_name=action.name, request=render(action, values, routing.secret_tags), profile=profile,
                next_attempt_at=now, expires_at=policy.expires_at(profile, now), created_at=now,
            ))
    return rows


class Dispatcher:
    """Turns system events into committed outbox rows and hands them to `submit` (the sender); a `Sink`."""

    def __init__(self, store: Store, policy: RetryPolicy, submit: Callable[[Sequence[Delivery]], None],
                 metrics: Metrics, clock: Callable[[], float]) -> None:
        self._store = store
        self._policy = policy
        self._submit = submit
        self._metrics = metrics
        self._clock = clock
        self._routing: Routing | None = None
        self._generation = 0

    def invalidate(self) -> None:
        """Forget the cached routing; the next event reads it again. Never blocks."""
        self._generation += 1
        self._routing = None

    async def routing(self) -> Routing:
        routing = self._routing
        if routing is None:
            generation = self._generation
            routing = await load_routing(self._store)
            if generation == self._generation:
                self._routing = routing
        return routing

    async def put(self, events: Sequence[SystemEvent]) -> None:
        """The `Sink`: `dispatch`, nothing returned."""
        await self.dispatch(events)

    async def dispatch(self, events: Sequence[SystemEvent]) -> list[Delivery]:
        """Enqueue one row per (event, bound action) in one transaction, count them, then submit them."""
        if not events:
            return []
        rows = await self._plan(events)
        stored = await self._store.enqueue(rows)
        for row in stored:
            self._metrics.enqueued.inc(row.event)
        if stored:
            self._submit(stored)
        return stored

    async def _plan(self, events: Sequence[SystemEvent]) -> list[NewDelivery]:
        """`plan` for the whole batch at one `now`, RENDER_CHUNK events per loop step (yields in between)."""
        routing, now = await self.routing(), self._clock()
        rows: list[NewDelivery] = []
        for start in range(0, len(events), RENDER_CHUNK):
            if start:
                await asyncio.sleep(0)
            rows += plan(routing, events[start:start + RENDER_CHUNK], self._policy, now)
        return rows
