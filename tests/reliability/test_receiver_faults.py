"""A webhook receiver that fails, for real, at the socket: down for a while, slow (answers after the timeout),
answering garbage, resetting the connection, or redirecting. The whole daemon replays a one-call trace (three
deliveries) and the activity log, read through the admin API, must tell exactly what happened (docs/delivery.md:
no response and 5xx are retried, redirects are not followed and not retried).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.app import Agent
from agent.devtools.simulator import AmiSimulator
from tests.delivery_support import free_port
from tests.reliability.harness import TOKEN, agent_settings, configure, eventually
from tests.reliability.report import Row, record
from tests.reliability.synth import trace_path

TRACE = trace_path("01_internal_answered_caller_hangup")  # call_incoming, ringing, call_answered
DELIVERIES = 3
FAULTED = 2  # the first two requests meet the fault, the rest are answered 200
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


class FaultServer:
    """A raw HTTP/1.1 server on 127.0.0.1: the first `FAULTED` requests meet `fault`, the others get 200."""

    def __init__(self, fault: str, port: int) -> None:
        self.fault = fault
        self.port = port
        self.requests = 0
        self.faulted = 0 if fault != "none" else FAULTED
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._answer(reader, writer)
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            self.requests += 1
            if self.faulted < FAULTED:
                self.faulted += 1
                await self._misbehave(writer)
            else:
                writer.write(OK)
                await writer.drain()

    async def _misbehave(self, writer: asyncio.StreamWriter) -> None:
        if self.fault == "slow":
            await asyncio.sleep(1.5)
            writer.write(OK)
        elif self.fault == "garbage":
            writer.write(b"\x00\xff\xfeNOT HTTP AT ALL\r\n\r\n")
        elif self.fault == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        elif self.fault == "redirect":
            writer.write(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/elsewhere\r\n"
                         b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()


@asynccontextmanager
async def daemon(tmp_path: Path, rx_port: int) -> AsyncIterator[Agent]:
    simulator = AmiSimulator([TRACE], speed=0)
    await simulator.start()
    await configure(tmp_path, rx_port)
    settings = agent_settings(tmp_path, simulator.port, total_timeout=0.5, retry_initial_delay=0.1,
                              retry_max_delay=0.2)
    agent = await Agent.open(settings)
    try:
        yield agent
    finally:
        await agent.stop()
        await simulator.stop()


async def activity(agent: Agent) -> list[dict[str, Any]]:
    """The activity log as the admin API serves it, oldest first."""
    url = f"http://127.0.0.1:{agent.api_port}/api/v1/activity?per_page=100"
    async with aiohttp.ClientSession() as http, http.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as reply:
        assert reply.status == 200
        page = await reply.json()
    return sorted(page["items"], key=lambda item: item["id"])


async def settled(agent: Agent, rows: int) -> list[dict[str, Any]]:
    """Wait until the deliveries are finished and the log holds at least `rows` attempts."""
    await eventually(lambda: agent.metrics.ami_events.value() > 0 and agent.sender.depth == 0
                     and sum(agent.metrics.deliveries.snapshot().values()) >= DELIVERIES, what="deliveries done")
    log = await activity(agent)
    assert len(log) >= rows
    return log


def report(fault: str, log: list[dict[str, Any]], server_saw: int) -> None:
    made = len([row for row in log if row["status"] == 200])
    record(Row(f"webhook receiver {fault}", FAULTED, 1, DELIVERIES, made, server_saw - DELIVERIES,
               figures=f"{len(log)} attempts logged, {server_saw} requests seen by the receiver",
               note="duplicated: requests the receiver read whose answer the agent could not use"))


class TestReceiverFaults:
    async def test_down_for_a_while(self, tmp_path: Path) -> None:
        """Given nobody listening on the receiver's port, when it starts listening after a few attempts, then
        every delivery arrives; the failed attempts are logged with status 0 and the connection error."""
        port = free_port()
        server = FaultServer("none", port)
        async with daemon(tmp_path, port) as agent:
            await eventually(lambda: agent.metrics.attempts.value("error") >= 3, what="refused attempts")
            await server.start()
            try:
                log = await settled(agent, DELIVERIES + 3)
            finally:
                await server.stop()
        failed = [row for row in log if row["status"] != 200]
        assert failed
        assert all(row["status"] == 0 and "connect" in row["message"].lower() for row in failed)
        assert [row["status"] for row in log][-DELIVERIES:] == [200] * DELIVERIES
        assert server.requests == DELIVERIES
        report("down for a while", log, server.requests)

    @pytest.mark.parametrize(("fault", "words"), [
        ("slow", "timed out"),
        ("garbage", ""),
        ("reset", ""),
    ])
    async def test_no_usable_answer(self, tmp_path: Path, fault: str, words: str) -> None:
        """Given a receiver whose first two answers are late (after the 0.5 s timeout), garbage, or a TCP reset,
        when the agent delivers, then those two attempts are logged with status 0 and the error, are retried,
        and every delivery arrives; the log has one row per request the receiver saw."""
        server = FaultServer(fault, free_port())
        await server.start()
        try:
            async with daemon(tmp_path, server.port) as agent:
                log = await settled(agent, DELIVERIES + FAULTED)
        finally:
            await server.stop()
        assert [row["status"] for row in log] == [0] * FAULTED + [200] * DELIVERIES
        assert [row["attempt"] for row in log[: FAULTED + 1]] == [1, 2, 3]
        assert all(words in row["message"] and row["message"] for row in log[:FAULTED])
        assert server.requests == len(log)
        report(fault, log, server.requests)

    async def test_redirect(self, tmp_path: Path) -> None:
        """Given a receiver answering 302 to the first two requests, when the agent delivers, then those two
        deliveries are given up after one attempt each (status 302, 'not followed' in the log), nobody is asked
        at the Location, and the third delivery arrives."""
        server = FaultServer("redirect", free_port())
        await server.start()
        try:
            async with daemon(tmp_path, server.port) as agent:
                log = await settled(agent, DELIVERIES)
                states = agent.metrics.deliveries.snapshot()
        finally:
            await server.stop()
        assert [row["status"] for row in log] == [302, 302, 200]
        assert all("not followed" in row["message"] for row in log[:2])
        assert states == {"failed": 2, "delivered": 1}
        assert server.requests == DELIVERIES
        report("redirect", log, server.requests)
