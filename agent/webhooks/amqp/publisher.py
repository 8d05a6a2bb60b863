"""Publishes rendered AMQP messages (docs/fleets.md): one connection per broker URL, publisher confirms.

An attempt returns an `AttemptResult` like an HTTP attempt, so the retry policy and the activity log treat both
kinds alike: status 200 (AMQP's reply-success) when the broker confirmed the message, 0 with the reason
otherwise (returned as unroutable, refused by a nack, connection refused or lost, authentication failed...).
Only a message that can never be sent as built (an invalid URL or exchange name, a routing key over 255 bytes)
is marked permanent.

Connections are opened on demand and kept while in use (one unused for IDLE_CLOSE, 10 minutes, is closed). A
lost connection (broker stopped, restarted, killed) is noticed by its close callback and opened again by the
next attempt; a failed connect holds further connects to that URL back with a doubling delay (0.5 s up to 30 s),
and attempts meanwhile fail at once with the last error, so wrong credentials never become a tight loop of
logins. The exchange is declared (durable, topic) once per channel;
after a channel error (an exchange deleted under us) the next attempt opens a new channel and declares it again.

Messages that share a `message_id` (one event published twice at once) go one after the other on a connection:
the client matches a returned message to its publish by `message_id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace

import aio_pika
import aiormq.exceptions
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from agent.store.health import Backoff
from agent.webhooks.amqp.failures import INVALID_URL, Address, connect_failure, mask, parse_url
from agent.webhooks.amqp.render import NAME_LIMIT, AmqpMessage, exchange_problem
from agent.webhooks.retry import AttemptResult

log = logging.getLogger("agent.delivery.amqp")

RECONNECT = Backoff(first=0.5, cap=30.0)
CONNECT_TIMEOUT = 10.0  # s
ATTEMPT_LIMIT = 30.0  # s: connect, declare, publish and confirm together
CONFIRMED = 200  # AMQP reply-success
CHANNEL_ERRORS = (aiormq.exceptions.AMQPChannelError, aiormq.exceptions.ChannelInvalidStateError)
IDLE_CLOSE = 600.0  # s: a connection unused this long is closed (an edited action leaves its old URL behind)


class Refused(Exception):
    """An attempt cannot go on; the text says why in plain words (never with the password)."""


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """One broker URL as the publisher holds it (for the status endpoint)."""

    address: Address
    connected: bool
    error: str | None


class Link:
    """The connection to one broker URL: opened on demand, its channel, the exchanges declared on it."""

    def __init__(self, url: str, address: Address, password: str, *, clock: Callable[[], float], backoff: Backoff,
                 connect_timeout: float) -> None:
        self._url, self.address, self._password = url, address, password
        self._clock, self._backoff, self._connect_timeout = clock, backoff, connect_timeout
        self._delays: Iterator[float] = backoff.delays()
        self._retry_at = 0.0
        self.error: str | None = None
        self._connection: AbstractConnection | None = None
        self._stale: list[AbstractConnection] = []  # closed by the broker or the network; released on next use
        self._channel: AbstractChannel | None = None
        self._declared: dict[str, AbstractExchange] = {}
        self._lock = asyncio.Lock()
        self._sending: dict[str, asyncio.Event] = {}
        self.busy = 0  # attempts in progress
        self.used_at = clock()

    @property
    def connected(self) -> bool:
        return self._connection is not None and _alive(self._connection)

    async def exchange(self, name: str) -> AbstractExchange:
        """The exchange `name` on an open channel, declared (durable topic) if this channel has not yet."""
        channel = await self._open_channel()
        exchange = self._declared.get(name)
        if exchange is None:
            try:
                exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
            except aiormq.exceptions.ChannelPreconditionFailed as exc:
                self.drop_channel()
                raise Refused(f"exchange '{name}' exists at {self.address.where} with other settings (it must be "
                              f"a durable topic exchange): {exc}") from None
            except aiormq.exceptions.AMQPChannelError as exc:
                self.drop_channel()
                raise Refused(f"cannot declare exchange '{name}' at {self.address.where}: {exc}") from None
            self._declared[name] = exchange
        return exchange

    async def _open_channel(self) -> AbstractChannel:
        """The channel, opened (and the connection with it) by one attempt while the others wait for it."""
        async with self._lock:
            channel = self._channel
            if channel is not None and not channel.is_closed:
                return channel
            if self._connection is not None and not _alive(self._connection):
                self._closed(self._connection)  # closed under us, its close callback not run yet
            connection = self._connection or await self._connect()
            try:
                channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            except (aiormq.exceptions.AMQPError, OSError, RuntimeError) as exc:
                await self.drop_connection()
                raise Refused(self.masked(f"cannot open a channel at {self.address.where}: {exc}")) from None
            self._channel, self._declared = channel, {}
            return channel

    async def _connect(self) -> AbstractConnection:
        await self._release_stale()
        wait = self._retry_at - self._clock()
        if wait > 0:
            raise Refused(f"{self.error}; next connection attempt in {wait:.1f} s")
        try:
            connection = await aio_pika.connect(self._url, timeout=self._connect_timeout,
                                                client_properties={"connection_name": "event-agent"})
        except (aiormq.exceptions.AMQPError, OSError, TimeoutError, ValueError) as exc:
            self._failed(connect_failure(exc, self.address, self._password, self._connect_timeout))
            raise Refused(self.error) from None
        connection.close_callbacks.add(self._closed)
        self._connection, self._delays, self._retry_at, self.error = connection, self._backoff.delays(), 0.0, None
        log.info("amqp: connected to %s", self.address)
        return connection

    def _failed(self, error: str) -> None:
        delay = next(self._delays)
        self.error, self._retry_at = error, self._clock() + delay
        log.warning("amqp: %s; next connection attempt in %g s", error, delay)

    def _closed(self, connection: AbstractConnection | None, reason: BaseException | None = None) -> None:
        """Close callback: forget a connection the broker or the network closed (the next attempt reconnects)."""
        if connection is not self._connection or connection is None:
            return
        self._connection, self._channel, self._declared = None, None, {}
        self._stale.append(connection)
        self.error = self.masked(f"connection to {self.address.where} lost: {reason or 'closed'}")
        log.warning("amqp: %s", self.error)

    def masked(self, text: str) -> str:
        """`text` without this URL's password."""
        return mask(text, self._password)

    async def _release_stale(self) -> None:
        stale, self._stale = self._stale, []
        for connection in stale:
            with contextlib.suppress(Exception):
                await connection.close()

    def drop_channel(self) -> None:
        """Forget the channel (the broker closed it); the next attempt opens another and declares again."""
        self._channel, self._declared = None, {}

    async def drop_connection(self) -> None:
        """Close the connection (if any); the next attempt opens another."""
        if self._connection is not None:
            self._stale.append(self._connection)
        self._connection = None
        self.drop_channel()
        await self._release_stale()

    @contextlib.asynccontextmanager
    async def one_per_message_id(self, message_id: str) -> AsyncIterator[None]:
        """Publishes of the same `message_id` one at a time (returns are matched to publishes by it)."""
        while (done := self._sending.get(message_id)) is not None:
            await done.wait()
        self._sending[message_id] = done = asyncio.Event()
        try:
            yield
        finally:
            del self._sending[message_id]
            done.set()


def _alive(connection: AbstractConnection) -> bool:
    transport = connection.transport
    return transport is not None and not transport.connection.is_closed


def _outgoing(message: AmqpMessage) -> aio_pika.Message:
    """The client's message for `message`: the properties of `AmqpMessage.properties()`."""
    return aio_pika.Message(message.body, content_type=message.content_type, message_id=message.message_id,
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT, timestamp=message.timestamp,
                            headers=dict(message.headers))


async def _broken(link: Link, message: AmqpMessage, exc: BaseException) -> str:
    """Why a publish failed on a channel or connection that broke under it; forgets what broke."""
    where = link.address.where
    if link.connected and isinstance(exc, aiormq.exceptions.ChannelNotFoundEntity):
        link.drop_channel()
        return f"exchange '{message.exchange}' not found at {where} (deleted?); the next attempt declares it again"
    if link.connected and isinstance(exc, CHANNEL_ERRORS):
        link.drop_channel()
        return link.masked(f"channel closed at {where}: {exc}")
    await link.drop_connection()
    return link.masked(f"connection to {where} lost before the broker confirmed the message ({exc}); it may have "
                       "arrived")


def _problem(message: AmqpMessage) -> str | None:
    """Why `message` can never be published as built, or None."""
    size = len(message.routing_key.encode())
    if size > NAME_LIMIT:
        return f"routing key is {size} bytes; AMQP allows at most {NAME_LIMIT}"
    return exchange_problem(message.exchange)


class AmqpPublisher:
    """Publishes `AmqpMessage`s; `publish(message)` -> AttemptResult, `status()`, `close()`."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, backoff: Backoff = RECONNECT,
                 connect_timeout: float = CONNECT_TIMEOUT, idle_close: float = IDLE_CLOSE) -> None:
        self._clock = clock
        self._backoff = backoff
        self._connect_timeout = connect_timeout
        self._idle_close = idle_close
        self._links: dict[str, Link] = {}

    async def publish(self, message: AmqpMessage, limit_s: float = ATTEMPT_LIMIT) -> AttemptResult:
        """One attempt, over after `limit_s` seconds at most: delivered (200) once the broker confirms the
        message; never raises for delivery problems."""
        begin = time.perf_counter()
        result = await self._attempt(message, limit_s)
        return replace(result, duration_ms=round((time.perf_counter() - begin) * 1000.0, 3))

    async def _attempt(self, message: AmqpMessage, limit_s: float) -> AttemptResult:
        parsed = parse_url(message.url)
        if parsed is None:
            return AttemptResult(0, INVALID_URL, 0.0, permanent=True)
        problem = _problem(message)
        if problem is not None:
            return AttemptResult(0, problem, 0.0, permanent=True)
        link = self._link(message.url, *parsed)
        await self._close_idle(keep=link)
        link.busy += 1
        try:
            async with asyncio.timeout(limit_s), link.one_per_message_id(message.message_id):
                exchange = await link.exchange(message.exchange)
                return await self._send(link, exchange, message)
        except Refused as exc:
            return AttemptResult(0, str(exc), 0.0)
        except TimeoutError:
            return AttemptResult(0, f"no confirmation from {link.address.where} within {limit_s:g} s", 0.0)
        finally:
            link.busy -= 1
            link.used_at = self._clock()

    async def _close_idle(self, keep: Link) -> None:
        now = self._clock()
        idle = [url for url, link in self._links.items()
                if link is not keep and not link.busy and now - link.used_at > self._idle_close]
        for url in idle:
            await self._links.pop(url).drop_connection()

    def _link(self, url: str, address: Address, password: str) -> Link:
        link = self._links.get(url)
        if link is None:
            link = self._links[url] = Link(url, address, password, clock=self._clock, backoff=self._backoff,
                                           connect_timeout=self._connect_timeout)
        return link

    @staticmethod
    async def _send(link: Link, exchange: AbstractExchange, message: AmqpMessage) -> AttemptResult:
        try:
            await exchange.publish(_outgoing(message), message.routing_key, mandatory=True)
        except aiormq.exceptions.PublishError:
            return AttemptResult(0, f"unroutable: no queue bound for routing key '{message.routing_key}' on "
                                    f"exchange '{message.exchange}'", 0.0)
        except aiormq.exceptions.DeliveryError as exc:
            return AttemptResult(0, link.masked(f"the broker at {link.address.where} refused the message: {exc}"),
                                 0.0)
        except (aiormq.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError, OSError) as exc:
            return AttemptResult(0, await _broken(link, message, exc), 0.0)
        return AttemptResult(CONFIRMED, "confirmed", 0.0)

    def status(self) -> list[LinkStatus]:
        """Each broker URL used so far: connected or not, and the last error."""
        return [LinkStatus(link.address, link.connected, link.error) for link in self._links.values()]

    async def close(self) -> None:
        """Close every connection (in-flight attempts fail as lost)."""
        links, self._links = list(self._links.values()), {}
        for link in links:
            await link.drop_connection()
