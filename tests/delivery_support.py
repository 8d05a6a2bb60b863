"""Test support for delivery: a real aiohttp receiver on 127.0.0.1 and a delivery engine on a real SQLite file."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from agent.mapping.catalog import SystemEvent
from agent.metrics import Metrics
from agent.settings import DeliverySettings
from agent.store.facade import Store
from agent.webhooks.dispatcher import Dispatcher
from agent.webhooks.retry import RetryPolicy
from agent.webhooks.sender import Sender


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query_string: str  # as sent, still percent-encoded
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        found = [v for k, v in self.headers if k.lower() == name.lower()]
        return found[0] if found else None


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = "ok"
    headers: Mapping[str, str] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver:
    """Records every request; answers from a per-path script of replies (then 200), optionally held by a gate."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.requests: list[Received] = []
        self.script: dict[str, list[Reply]] = {}
        self.gates: dict[str, asyncio.Event] = {}
        self._arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def on(self, path: str, *replies: Reply) -> None:
        self.script[path] = list(replies)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Received(request.method, request.path, request.raw_path.partition("?")[2],
                                      tuple(request.headers.items()), body))
        self._arrived.set()
        self._arrived = asyncio.Event()
        if request.path in self.gates:
            await self.gates[request.path].wait()
        script = self.script.get(request.path, [])
        reply = script.pop(0) if script else Reply()
        return web.Response(status=reply.status, text=reply.body, headers=dict(reply.headers))

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        if not self.port:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        for gate in self.gates.values():
            gate.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, count: int, within: float = 10.0) -> list[Received]:
        async with asyncio.timeout(within):
            while len(self.requests) < count:
                await self._arrived.wait()
        return self.requests


@asynccontextmanager
async def receiver(port: int = 0) -> AsyncIterator[Receiver]:
    started = await Receiver(port).start()
    try:
        yield started
    finally:
        await started.stop()


def fast_delivery(**changes: float) -> DeliverySettings:
    values: dict[str, float] = {"retry_initial_delay": 0.05, "retry_max_delay": 0.2, "total_timeout": 5.0,
                                "connect_timeout": 1.0, **changes}
    return DeliverySettings(**values)


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
    """A `Sink` (agent/ingest/sink.py) that hands each batch to `write`: a recorder, a failing store, ..."""

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
    base = {"call_id": call_id, "event": name, "event_id": f"{call_id}:{name}:{params.get('extension', '')}",
            "caller_id": "0311234567", "extension": "201"}
    return SystemEvent(name, call_id, {**base, **params})
