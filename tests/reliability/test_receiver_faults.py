"""A webhook receiver that fails, for real, at the socket: down for a while, slow (answers after the timeout),
answering garbage, resetting the connection (TCP RST), or redirecting. The whole daemon replays a one-call trace (three
deliveries) and the activity log, read through the admin API, must tell exactly what happened (docs/delivery.md:
no response and 5xx are retried, redirects are not followed and not retried).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.app import Agent
from agent.devtools.simulator import AmiSimulator
from tests.reliability.harness import configure
from tests.reliability.report import Row, record
from tests.reliability.synth import trace_path
from tests.support.agent_runner import running_agent
from tests.support.polling import eventually
from tests.support.receiver import ANY, Receiver, Reply, free_port, receiver
from tests.support.settings import TOKEN, agent_settings

TRACE = trace_path("01_internal_answered_caller_hangup")  # call_incoming, ringing, call_answered
DELIVERIES = 3
FAULTED = 2  # the first two requests meet the fault, the rest are answered 200


@asynccontextmanager
async def faulty(reply: Reply) -> AsyncIterator[Receiver]:
    """A receiver whose first `FAULTED` requests, whatever their path, get `reply`; the others 200."""
    async with receiver() as rx:
        rx.on(ANY, *[reply] * FAULTED)
        yield rx


@asynccontextmanager
async def daemon(tmp_path: Path, rx_port: int) -> AsyncIterator[Agent]:
    simulator = AmiSimulator([TRACE], speed=0)
    await simulator.start()
    await configure(tmp_path, rx_port)
    settings = agent_settings(tmp_path, simulator.port, total_timeout=0.5, retry_initial_delay=0.1,
                              retry_max_delay=0.2)
    try:
        async with running_agent(settings) as agent:
            yield agent
    finally:
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
        async with daemon(tmp_path, port) as agent:
            await eventually(lambda: agent.metrics.attempts.value("error") >= 3, what="refused attempts")
            async with receiver(port) as rx:
                log = await settled(agent, DELIVERIES + 3)
        failed = [row for row in log if row["status"] != 200]
        assert failed
        assert all(row["status"] == 0 and "connect" in row["message"].lower() for row in failed)
        assert [row["status"] for row in log][-DELIVERIES:] == [200] * DELIVERIES
        assert rx.count == DELIVERIES
        report("down for a while", log, rx.count)

    @pytest.mark.parametrize(("fault", "reply", "words"), [
        pytest.param("slow", Reply(delay=1.5), "timed out", id="slow"),
        pytest.param("garbage", Reply(fault="garbage"), "", id="garbage"),
        pytest.param("reset", Reply(fault="reset"), "", id="reset"),
    ])
    async def test_no_usable_answer(self, tmp_path: Path, fault: str, reply: Reply, words: str) -> None:
        """Given a receiver whose first two answers are late (after the 0.5 s timeout), garbage, or a TCP reset,
        when the agent delivers, then those two attempts are logged with status 0 and the error, are retried,
        and every delivery arrives; the log has one row per request the receiver saw."""
        async with faulty(reply) as rx, daemon(tmp_path, rx.port) as agent:
            log = await settled(agent, DELIVERIES + FAULTED)
        assert [row["status"] for row in log] == [0] * FAULTED + [200] * DELIVERIES
        assert [row["attempt"] for row in log[: FAULTED + 1]] == [1, 2, 3]
        assert all(words in row["message"] and row["message"] for row in log[:FAULTED])
        assert rx.count == len(log)
        report(fault, log, rx.count)

    async def test_redirect(self, tmp_path: Path) -> None:
        """Given a receiver answering 302 to the first two requests, when the agent delivers, then those two
        deliveries are given up after one attempt each (status 302, 'not followed' in the log), nobody is asked
        at the Location, and the third delivery arrives."""
        async with faulty(Reply(302, "", {"Location": "http://127.0.0.1:9/elsewhere"})) as rx, \
                daemon(tmp_path, rx.port) as agent:
            log = await settled(agent, DELIVERIES)
            states = agent.metrics.deliveries.snapshot()
        assert [row["status"] for row in log] == [302, 302, 200]
        assert all("not followed" in row["message"] for row in log[:2])
        assert states == {"failed": 2, "delivered": 1}
        assert rx.count == DELIVERIES
        report("redirect", log, rx.count)
