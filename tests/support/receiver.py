"""The webhook receiver every test delivers to: a real aiohttp server on 127.0.0.1 that records each request
and answers as the test scripts it: a status, a delay, or a fault (bytes that are not HTTP, a flood of header
lines, the request echoed back in a 500, a TCP reset); or it holds the request at a gate.

    async with receiver() as rx:
        rx.on("/hook", Reply(503), Reply(503))   # the next two requests to /hook get 503, then the default
        rx.on(ANY, Reply(fault="garbage"))        # the next request to any path gets garbage
        rx.always("/down", Reply(503))            # every request under /down gets 503
        await rx.wait_for(3)

Tests without an event loop of their own (the browser tests) run it on a `BackgroundLoop`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

from aiohttp import web

from tests.support.polling import WAIT

ANY = "*"  # `Receiver.on` for a script that any path takes from
# garbage: a line that is not HTTP; headers: a status line and more header lines than any client accepts;
# echo: a 500 whose body is the request head as received (a receiver that reflects the URL and the headers,
# credentials included, into its error page); reset: the connection aborted with a TCP RST.
Fault = Literal["garbage", "headers", "echo", "reset"]
GARBAGE = b"\x00\xff\xfeNOT HTTP AT ALL\r\n\r\n"
FLOOD = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Flood-%d: v\r\n" % n for n in range(500)) + b"\r\n"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (yet)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Received:
    method: str
    path: str
    query_string: str  # as sent, still percent-encoded
    headers: tuple[tuple[str, str], ...]
    body: bytes
    at: float  # wall-clock time it arrived

    def header(self, name: str) -> str | None:
        found = [value for key, value in self.headers if key.lower() == name.lower()]
        return found[0] if found else None

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.query_string, keep_blank_values=True))

    @property
    def path_qs(self) -> str:
        return f"{self.path}?{self.query_string}" if self.query_string else self.path

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """One answer: `status`, `body` and `headers` after `delay` s; or, with `fault`, no HTTP answer at all."""

    status: int = 200
    body: str = "ok"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    fault: Fault | None = None


class Receiver:
    """Records every request (all of them in `requests` with `keep`; always `count`, and `listeners` called with
    each); answers from the scripts set by `on` and `always`, else `answer`; a request to a path in `gates` is
    held until its event is set."""

    def __init__(self, port: int = 0, *, keep: bool = True, answer: Reply | None = None) -> None:
        self.port = port
        self.keep = keep
        self.answer = answer or Reply()
        self.requests: list[Received] = []
        self.count = 0
        self.listeners: list[Callable[[Received], None]] = []
        self.gates: dict[str, asyncio.Event] = {}
        self._scripts: dict[str, list[Reply]] = {}
        self._standing: dict[str, Reply] = {}
        self._pulse = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def on(self, path: str, *replies: Reply) -> None:
        """The next requests to exactly `path` (or to any path: `ANY`) get `replies`, one each, in turn."""
        self._scripts[path] = list(replies)

    def always(self, prefix: str, reply: Reply) -> None:
        """Every request whose path starts with `prefix` gets `reply` (when no script of `on` applies)."""
        self._standing[prefix] = reply

    def matching(self, prefix: str) -> list[Received]:
        return [item for item in list(self.requests) if item.path.startswith(prefix)]

    async def until(self, check: Callable[[], bool], within: float = WAIT) -> None:
        """Wait until `check` holds, looking again after each request."""
        async with asyncio.timeout(within):
            while not check():
                await self._pulse.wait()

    async def wait_for(self, count: int, within: float = WAIT) -> list[Received]:
        """Wait until `count` requests in all have arrived; the kept requests."""
        await self.until(lambda: self.count >= count, within)
        return self.requests

    def _reply_for(self, path: str) -> Reply:
        for key in (path, ANY):
            if script := self._scripts.get(key):
                return script.pop(0)
        return next((reply for prefix, reply in self._standing.items() if path.startswith(prefix)), self.answer)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received = Received(request.method, request.path, request.raw_path.partition("?")[2],
                            tuple(request.headers.items()), await request.read(), time.time())
        self._record(received)
        if request.path in self.gates:
            await self.gates[request.path].wait()
        reply = self._reply_for(request.path)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.fault is not None:
            _misbehave(request, reply.fault)
        return web.Response(status=reply.status, text=reply.body, headers=dict(reply.headers))

    def _record(self, received: Received) -> None:
        self.count += 1
        if self.keep:
            self.requests.append(received)
        for listener in self.listeners:
            listener(received)
        self._pulse.set()
        self._pulse = asyncio.Event()

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        for gate in self.gates.values():
            gate.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _misbehave(request: web.Request, fault: Fault) -> None:
    """Write the fault's bytes on the socket and close it, or reset it; aiohttp then has nowhere to write."""
    transport = request.transport
    assert transport is not None
    if fault == "reset":
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        return
    transport.write(GARBAGE if fault == "garbage" else FLOOD if fault == "headers" else _echo(request))
    transport.close()


def _echo(request: web.Request) -> bytes:
    """A 500 whose body is the request line and headers as they came (names in their own case)."""
    line = f"{request.method} {request.raw_path} HTTP/{request.version.major}.{request.version.minor}\r\n"
    head = line.encode() + b"".join(key + b": " + value + b"\r\n" for key, value in request.raw_headers) + b"\r\n"
    return b"HTTP/1.1 500 Oops\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(head), head)


@asynccontextmanager
async def receiver(port: int = 0, *, keep: bool = True, answer: Reply | None = None) -> AsyncIterator[Receiver]:
    started = await Receiver(port, keep=keep, answer=answer).start()
    try:
        yield started
    finally:
        await started.stop()
