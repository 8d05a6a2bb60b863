"""The AMQP publisher against a real RabbitMQ broker (tests/support/broker.py): what a consumer receives, and
what an attempt reports when the broker cannot take the message (docs/fleets.md)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage

from agent.store.health import Backoff
from agent.webhooks.amqp.publisher import AmqpPublisher
from agent.webhooks.amqp.render import AmqpMessage, AmqpTarget, render_message
from agent.webhooks.retry import AttemptResult
from tests.support.broker import Broker, Relay
from tests.support.receiver import free_port

pytestmark = pytest.mark.heavy  # a RabbitMQ broker as a process: left out of `make quick`

# The call_answered of docs/events.md's example, with a tenant.
PARAMS = {
    "adopted": "", "answered_extensions": "202", "call_cost": "", "call_id": "1795871988.45",
    "call_rating_duration": "5", "called_number": "+15557770100", "caller_id": "+15551234567",
    "calling_name": "John Smith", "date": "2026-11-28", "dial_status": "ANSWER", "direction": "inbound",
    "duration": "7", "event": "call_answered", "event_id": "1795871988.45:call_answered:202:3",
    "extension": "202", "hangup_by": "caller", "hangup_cause": "16", "offered_extensions": "202", "queue": "",
    "reconciled": "", "ring_duration": "", "talk_duration": "4", "tenant": "acme", "time": "13:19:55",
    "trunk": "trunk", "unix_time": "1795871995", "wait_duration": "3",
}
BACKOFF = Backoff(first=0.5, cap=4.0)


class Clock:
    """A monotonic clock the test moves by hand (the publisher's reconnect delays are read from it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def names() -> tuple[str, str]:
    """A fresh exchange name and queue name for one test."""
    tag = uuid.uuid4().hex[:8]
    return f"events-{tag}", f"queue-{tag}"


def event(event_id: str, **changes: str) -> dict[str, str]:
    return {**PARAMS, "event_id": event_id, **changes}


def message(url: str, exchange: str, params: dict[str, str], body: str = "",
            custom: dict[str, str] | None = None) -> AmqpMessage:
    return render_message(AmqpTarget(url, exchange, body=body), params, custom or {})


async def bind(url: str, exchange: str, queue: str, binding: str = "#") -> None:
    """What a consumer does first: declare the exchange and a durable queue, and bind them."""
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        declared = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        bound = await channel.declare_queue(queue, durable=True)
        await bound.bind(declared, binding)


async def received(url: str, queue: str) -> list[AbstractIncomingMessage]:
    """Every message waiting in `queue`, taken off it."""
    messages = []
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        source = await channel.get_queue(queue)
        while (got := await source.get(no_ack=True, fail=False)) is not None:
            messages.append(got)
    return messages


async def exchange_is_durable_topic(url: str, exchange: str) -> bool:
    """True when `exchange` exists as a durable topic exchange (declaring it so again is then accepted)."""
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        try:
            await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True, passive=True)
            await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        except aio_pika.exceptions.ChannelClosed:
            return False
    return True


@asynccontextmanager
async def publisher(clock: Clock | None = None) -> AsyncIterator[AmqpPublisher]:
    running = AmqpPublisher(clock=clock or Clock(), backoff=BACKOFF)
    try:
        yield running
    finally:
        await running.close()


def broker_down(broker: Broker) -> tuple[str, ...]:
    """How an attempt reports a broker gone: refused (the publisher saw the connection close), or lost (the
    attempt was the first to find out)."""
    where = f"127.0.0.1:{broker.port}"
    return f"connection refused by {where} (is the broker running", f"connection to {where} lost"


def delivered(result: AttemptResult) -> bool:
    return result.ok and result.status == 200 and not result.permanent


class TestPublish:
    async def test_consumer_receives_the_event(self, broker: Broker) -> None:
        """Given a queue bound to `acme.*`, when a call_answered of tenant acme is published, then it is confirmed
        and the consumer gets it: routing key acme.call_answered, message_id = event_id, headers event and
        call_id, persistent, JSON content type, the event's time as timestamp, and every parameter as body."""
        exchange, queue = names()
        await bind(broker.url(), exchange, queue, "acme.*")
        async with publisher() as amqp:
            result = await amqp.publish(message(broker.url(), exchange, PARAMS))
        assert delivered(result), result
        (got,) = await received(broker.url(), queue)
        assert got.routing_key == "acme.call_answered"
        assert got.message_id == "1795871988.45:call_answered:202:3"
        assert got.headers == {"event": "call_answered", "call_id": "1795871988.45"}
        assert got.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert got.content_type == "application/json"
        assert got.timestamp is not None
        assert got.timestamp.timestamp() == 1795871995
        assert json.loads(got.body) == PARAMS

    async def test_empty_tenant_is_default(self, broker: Broker) -> None:
        """Given a call without a tenant, then its routing key starts with `default`."""
        exchange, queue = names()
        await bind(broker.url(), exchange, queue, "default.#")
        async with publisher() as amqp:
            result = await amqp.publish(message(broker.url(), exchange, event("e1", tenant="", event="ringing")))
        assert delivered(result), result
        assert [got.routing_key for got in await received(broker.url(), queue)] == ["default.ringing"]

    async def test_unroutable_fails_and_exchange_is_declared(self, broker: Broker) -> None:
        """Given an exchange that does not exist and no queue bound, when a message is published, then the
        publisher has declared the exchange (durable topic) and the attempt failed as unroutable, to be retried."""
        exchange, _ = names()
        async with publisher() as amqp:
            result = await amqp.publish(message(broker.url(), exchange, PARAMS))
        assert (result.ok, result.permanent) == (False, False)
        assert result.message == (f"unroutable: no queue bound for routing key 'acme.call_answered' on exchange "
                                  f"'{exchange}'")
        assert await exchange_is_durable_topic(broker.url(), exchange)

    async def test_one_mebibyte_body(self, broker: Broker) -> None:
        """Given a body template and a 1 MiB value, then the message is confirmed and arrives whole."""
        exchange, queue = names()
        await bind(broker.url(), exchange, queue)
        blob = "x" * (1 << 20)
        async with publisher() as amqp:
            result = await amqp.publish(message(broker.url(), exchange, PARAMS, '{"blob": "{{blob}}"}',
                                                {"blob": blob}))
        assert delivered(result), result
        (got,) = await received(broker.url(), queue)
        assert len(got.body) > 1 << 20
        assert json.loads(got.body) == {"blob": blob}

    async def test_one_connection_per_url(self, broker: Broker) -> None:
        """Given 20 events published at once to one broker URL, then all are confirmed over one connection."""
        exchange, queue = names()
        await bind(broker.url(), exchange, queue)
        async with Relay(broker.port) as relay, publisher() as amqp:
            url = broker.url(port=relay.port)
            results = await asyncio.gather(*(amqp.publish(message(url, exchange, event(f"e{n}"))) for n in range(20)))
            assert all(delivered(result) for result in results), results
            assert relay.accepted == 1
        assert sorted(got.message_id or "" for got in await received(broker.url(), queue)) == sorted(
            f"e{n}" for n in range(20))

    async def test_idle_connection_closed(self, broker: Broker) -> None:
        """Given a broker URL unused for more than 10 minutes, when another URL is used, then the idle URL's
        connection is closed (the relay sees it end) and the publisher no longer lists it."""
        exchange, _ = names()
        clock = Clock()
        async with Relay(broker.port) as relay, publisher(clock) as amqp:
            await amqp.publish(message(broker.url(port=relay.port), exchange, PARAMS))
            assert [link.address.port for link in amqp.status()] == [relay.port]
            clock.now += 601
            await amqp.publish(message(broker.url(), exchange, PARAMS))
            await relay.until_ended(1)
            assert [(link.address.port, link.connected) for link in amqp.status()] == [(broker.port, True)]

    async def test_same_event_to_two_exchanges(self, broker: Broker) -> None:
        """Given one event published at once to a bound exchange and an unbound one (same message_id on one
        channel), then each attempt gets its own outcome: confirmed, and unroutable."""
        (bound, queue), (unbound, _) = names(), names()
        await bind(broker.url(), bound, queue)
        async with publisher() as amqp:
            results = await asyncio.gather(amqp.publish(message(broker.url(), bound, PARAMS)),
                                           amqp.publish(message(broker.url(), unbound, PARAMS)))
        assert [delivered(result) for result in results] == [True, False]
        assert results[1].message.startswith("unroutable:")
        assert len(await received(broker.url(), queue)) == 1


class TestRefused:
    async def test_wrong_credentials(self, broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
        """Given a wrong password, then attempts fail with a plain message naming user and address (never the
        password), and while the reconnect delay runs they fail without dialling the broker again: 10 attempts,
        one login; once the delay is over, the next attempt dials once more."""
        caplog.set_level(logging.DEBUG)
        password = "Wr0ng-pa55%@/"
        clock = Clock()
        async with Relay(broker.port) as relay, publisher(clock) as amqp:
            url = broker.url(password=quote(password, safe=""), port=relay.port)
            results = [await amqp.publish(message(url, "events", event(f"e{n}"))) for n in range(10)]
            assert relay.accepted == 1
            clock.now += 0.5
            results.append(await amqp.publish(message(url, "events", PARAMS)))
            assert relay.accepted == 2
        refused = f"authentication failed for user 'event-agent' at 127.0.0.1:{relay.port}"
        assert results[0].message == refused
        assert results[1].message == f"{refused}; next connection attempt in 0.5 s"
        assert results[10].message == refused
        assert not any(result.ok or result.permanent for result in results)
        assert [record for record in caplog.records if password in record.getMessage()
                or quote(password, safe="") in record.getMessage()] == []

    async def test_password_never_logged(self, broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
        """Given the broker user's password (a distinctive string), when messages are published with every
        logger at DEBUG, then no log line holds the password."""
        caplog.set_level(logging.DEBUG)
        exchange, queue = names()
        await bind(broker.url(), exchange, queue)
        async with publisher() as amqp:
            result = await amqp.publish(message(broker.url(), exchange, PARAMS))
        assert delivered(result), result
        assert caplog.records
        assert [record for record in caplog.records if broker.password in record.getMessage()] == []

    async def test_unknown_vhost(self, broker: Broker) -> None:
        """Given a virtual host that does not exist, then the attempt says so in plain words."""
        async with publisher() as amqp:
            result = await amqp.publish(message(broker.url(vhost="nowhere"), "events", PARAMS))
        assert result.message == (f"user 'event-agent' may not open virtual host 'nowhere' at 127.0.0.1:"
                                  f"{broker.port} (it does not exist, or the user has no permission there)")

    async def test_nothing_listening(self) -> None:
        """Given a port nothing listens on, then the attempt fails as refused, to be retried."""
        port = free_port()
        async with publisher() as amqp:
            result = await amqp.publish(message(f"amqp://guest:guest@127.0.0.1:{port}/", "events", PARAMS))
        assert result.message == (f"connection refused by 127.0.0.1:{port} (is the broker running and listening "
                                  "there?)")
        assert (result.ok, result.permanent) == (False, False)

    @pytest.mark.parametrize(("url", "exchange", "routing_key", "reason"), [
        ("http://127.0.0.1:9/", "events", "k", "invalid broker URL"),
        ("amqp:///vhost", "events", "k", "invalid broker URL"),
        ("amqp://127.0.0.1:9/", "", "k", "an exchange name is required"),
        ("amqp://127.0.0.1:9/", "amq.topic", "k", "names starting with 'amq.' are reserved"),
        ("amqp://127.0.0.1:9/", "events", "é" * 128, "routing key is 256 bytes; AMQP allows at most 255"),
    ])
    async def test_never_sendable(self, url: str, exchange: str, routing_key: str, reason: str) -> None:
        """Given a message that can never be sent as built, then the attempt is permanent (not retried)."""
        built = AmqpMessage(url, exchange, routing_key, b"{}", "e1", None, ())
        async with publisher() as amqp:
            result = await amqp.publish(built)
        assert result.permanent
        assert result.message.startswith(reason)


class TestBrokerFaults:
    @pytest.mark.parametrize("fault", ["stop", "kill"])
    async def test_broker_back(self, broker: Broker, fault: str) -> None:
        """Given a confirmed message, when the broker is stopped (gracefully) or killed (SIGKILL), then attempts
        fail as refused or lost while it is down; when it is back and the reconnect delay is over, the next
        attempt is confirmed, and the durable queue holds the message from before (confirmed means on disk) and
        the one after."""
        exchange, queue = names()
        await bind(broker.url(), exchange, queue)
        clock = Clock()
        async with publisher(clock) as amqp:
            assert delivered(await amqp.publish(message(broker.url(), exchange, event("before"))))
            await asyncio.to_thread(getattr(broker, fault))
            down = [await amqp.publish(message(broker.url(), exchange, event(f"down{n}"))) for n in range(3)]
            await asyncio.to_thread(broker.start)
            clock.now += 60
            after = await amqp.publish(message(broker.url(), exchange, event("after")))
        assert down[0].message.startswith(broker_down(broker)), down
        assert not any(result.ok for result in down), down
        assert delivered(after), after
        assert [got.message_id for got in await received(broker.url(), queue)] == ["before", "after"]

    async def test_exchange_deleted(self, broker: Broker) -> None:
        """Given a publisher using an exchange, when someone deletes the exchange, then the next attempt fails
        (not found), the one after declares it again (unroutable: its bindings went with it), and once the
        consumer binds again, messages are confirmed and arrive."""
        exchange, queue = names()
        await bind(broker.url(), exchange, queue)
        async with publisher() as amqp:
            assert delivered(await amqp.publish(message(broker.url(), exchange, event("first"))))
            async with await aio_pika.connect(broker.url()) as admin:
                await (await admin.channel()).exchange_delete(exchange)
            gone = await amqp.publish(message(broker.url(), exchange, event("gone")))
            again = await amqp.publish(message(broker.url(), exchange, event("again")))
            await bind(broker.url(), exchange, queue)
            last = await amqp.publish(message(broker.url(), exchange, event("last")))
        assert gone.message == (f"exchange '{exchange}' not found at 127.0.0.1:{broker.port} (deleted?); the next "
                                "attempt declares it again")
        assert again.message.startswith("unroutable:")
        assert delivered(last), last
        assert [got.message_id for got in await received(broker.url(), queue)] == ["first", "last"]
