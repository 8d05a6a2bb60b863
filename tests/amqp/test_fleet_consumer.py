"""The example consumer of docs/fleets.md, run as written against a real broker: it gets the agent's messages and
handles a re-sent event once."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import pytest

from agent.webhooks.amqp.publisher import AmqpPublisher
from agent.webhooks.amqp.render import AmqpTarget, render_message
from tests.support.broker import Broker
from tests.support.paths import ROOT
from tests.support.polling import eventually

pytestmark = pytest.mark.heavy  # a RabbitMQ broker as a process: left out of `make quick`

PAGE = ROOT / "docs" / "fleets.md"


def example() -> dict[str, Any]:
    """The namespace of the page's Python example (the block that defines `consume`)."""
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    (code,) = [block for block in blocks if "async def consume" in block]
    namespace: dict[str, Any] = {"__name__": "fleet_consumer"}
    exec(compile(code, str(PAGE), "exec"), namespace)
    return namespace


def params(event_id: str, event: str, tenant: str) -> dict[str, str]:
    return {"event": event, "event_id": event_id, "call_id": event_id.split(":", maxsplit=1)[0], "tenant": tenant,
            "unix_time": "1795871995"}


async def test_each_event_handled_once(broker: Broker) -> None:
    """Given the example consumer bound with `acme.*` (a first event of acme, published until it is routed, shows
    the binding is in place), when the agent publishes an event of acme, the same event again (a re-send), an
    event of another tenant and a second event of acme, then the handler gets the acme events once each, in
    order, with their routing keys and bodies, and never the other tenant's."""
    consume = example()["consume"]
    handled: list[tuple[str, dict[str, str]]] = []
    done = asyncio.Event()

    async def handle(routing_key: str, event: dict[str, str]) -> None:
        handled.append((routing_key, event))
        if event["event_id"] == "c2:call_hangup:1":
            done.set()

    first, second = params("c1:call_answered:1", "call_answered", "acme"), params("c2:call_hangup:1",
                                                                                 "call_hangup", "acme")
    other = params("c3:call_answered:1", "call_answered", "globex")
    probe = params("c0:ringing:1", "ringing", "acme")
    queue = f"crm-{uuid.uuid4().hex[:8]}"
    consumer = asyncio.create_task(consume(broker.url(), queue, "acme.*", handle))
    publisher = AmqpPublisher()
    try:
        target = AmqpTarget(broker.url(), "pbx.events")

        async def routed() -> bool:  # unroutable until the consumer has declared and bound its queue
            return (await publisher.publish(render_message(target, probe))).ok

        await eventually(routed, what="the probe routed to the consumer's queue")
        results = [await publisher.publish(render_message(target, event)) for event in (first, first, other, second)]
        assert [result.ok for result in results] == [True, True, False, True], results  # globex: no queue
        await done.wait()
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        await publisher.close()
    assert handled == [("acme.ringing", probe), ("acme.call_answered", first), ("acme.call_hangup", second)]
