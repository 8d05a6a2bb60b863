"""Webhook receivers that misbehave, as real TCP servers on 127.0.0.1, and the secrets the tests plant.

`HostileReceiver(mode)` reads one request head and answers it:
- `garbage`: a line that is not HTTP (`NOT-HTTP garbage`);
- `headers`: a status line followed by far more header lines than any client accepts;
- `echo`: `HTTP/1.1 500` whose body is the request head it got, byte for byte (a receiver that reflects the
  URL and the headers, credentials included, into its error page).
A refused port is simply `free_port()` with nobody listening.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

Mode = Literal["garbage", "headers", "echo"]

AMI_SECRET = "AMI-SECRET-ami-5"
ADMIN_TOKEN = "ADMIN-TOKEN-0123456789-abcdefghijklmnop"
PARAM = "SUPERSECRET-PARAM-1"
QUERY_KEY = "APIKEY-QUERY-6"
HEADER_KEY = "APIKEY-HEADER-9"
BEARER = "BEARER-TOKEN-7"
BASIC_USER = "pbx-user"
BASIC_PASSWORD = "BASIC-PASSWORD-8"
BASIC_PAIR = base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
SECRETS = (AMI_SECRET, ADMIN_TOKEN, PARAM, QUERY_KEY, HEADER_KEY, BEARER, BASIC_PASSWORD, BASIC_PAIR)
REQUEST_SECRETS = (PARAM, QUERY_KEY, HEADER_KEY, BEARER, BASIC_PASSWORD, BASIC_PAIR)


def leaked(text: str, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    """The planted secrets found in `text`."""
    return [secret for secret in secrets if secret in text]


def _answer(mode: Mode, head: bytes) -> bytes:
    if mode == "garbage":
        return b"NOT-HTTP garbage\r\n\r\n"
    if mode == "headers":
        return b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Flood-%d: v\r\n" % n for n in range(500)) + b"\r\n"
    return b"HTTP/1.1 500 Oops\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(head), head)


class HostileReceiver:
    """One misbehaving receiver; `requests` counts the request heads it read."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.requests = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            writer.write(_answer(self.mode, head))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def start(self) -> HostileReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@asynccontextmanager
async def hostile(mode: Mode) -> AsyncIterator[HostileReceiver]:
    receiver = await HostileReceiver(mode).start()
    try:
        yield receiver
    finally:
        await receiver.stop()
