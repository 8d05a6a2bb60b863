"""The whole daemon: AMI simulator -> AMI client -> tracker -> dispatcher -> outbox -> receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from agent.admin_api.rates import rate_table
from agent.app import DATABASE_FILE, Agent, serve
from agent.devtools.simulator import AmiSimulator
from agent.mapping.catalog import EVENT_KEYS
from agent.store.facade import NewActivity, Store
from agent.store.model import Action, Body, Parameter
from agent.store.records import RateRow
from tests.support.agent_runner import Daemon, running_agent
from tests.support.paths import TRACES
from tests.support.polling import eventually
from tests.support.receiver import Received, Receiver, free_port, receiver
from tests.support.settings import TOKEN, agent_settings

TRACE = TRACES / "13_load_mixed_35_calls.ami"
GOLDEN = TRACE.with_name("13_load_mixed_35_calls.expected.jsonl")
BODY = ('{"event_id": "{{event_id}}", "caller_id": "{{caller_id}}", "calling_name": "{{calling_name}}", '
        '"called_number": "{{called_number}}", "unix_time": "{{unix_time}}", "duration": "{{duration}}", '
        '"talk_duration": "{{talk_duration}}", "dial_status": "{{dial_status}}", "hangup_by": "{{hangup_by}}"}')


async def configure(state_dir: Path, receiver_port: int) -> None:
    """One action bound to all five events, the switch on; the receiver's address is a custom parameter."""
    store = await Store.open(state_dir / DATABASE_FILE)
    await store.create_parameter(Parameter("RX", f"127.0.0.1:{receiver_port}"))
    action = await store.create_action(Action(
        name="all", method="POST", url="http://{{RX}}/{{event}}/{{call_id}}?ext={{extension}}&dir={{direction}}",
        body=Body(type="raw", raw=BODY, content_type="application/json"),
    ))
    for key in EVENT_KEYS:
        await store.update_event(key, active=True, action_ids=[action.id or 0])
    await store.set_actions_enabled(True)
    await store.close()


def expected() -> list[dict[str, str]]:
    """The golden system events as the receiver should see them (every parameter the golden states)."""
    lines = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [{"event": line["event"], **line["params"]} for line in lines]


def seen(request: Received) -> dict[str, str]:
    """What one request carried: path, query and JSON body fields."""
    _, event, call_id = request.path.split("/")
    query = request.query
    return {"event": event, "call_id": call_id, "extension": query["ext"], "direction": query["dir"], **request.json()}


def matches(got: list[dict[str, str]], want: list[dict[str, str]]) -> list[dict[str, str]]:
    """`got` cut down to the keys each golden line states, in order (to compare with the golden)."""
    return [{key: one.get(key, "") for key in golden} for one, golden in zip(got, want, strict=True)]


def by_call(items: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    calls: dict[str, list[dict[str, str]]] = {}
    for item in items:
        calls.setdefault(item["call_id"], []).append(item)
    return calls


class TestAgent:
    async def test_replay_trace(self, tmp_path: Path) -> None:
        """Given a 35-call trace served over AMI, when the agent runs, then each call's requests match the golden."""
        simulator = AmiSimulator([TRACE], speed=0)
        ami_port = await simulator.start()
        want = expected()
        try:
            async with receiver() as rx:
                await configure(tmp_path, rx.port)
                async with running_agent(agent_settings(tmp_path, ami_port)) as agent:
                    await rx.wait_for(len(want))
                    await agent.run_until_idle()
                    got = [seen(r) for r in rx.requests]
                    calls, golden = by_call(got), by_call(want)
                    assert sorted(calls) == sorted(golden)
                    for call_id, events in golden.items():
                        assert matches(calls[call_id], events) == events, call_id
                    assert len({g["event_id"] for g in got}) == len(want)
                    await self._check_api(agent)
        finally:
            await simulator.stop()

    async def _check_api(self, agent: Agent) -> None:
        base = f"http://127.0.0.1:{agent.api_port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/api/v1/status", headers={"Authorization": f"Bearer {TOKEN}"}) as response:
                status = await response.json()
            async with http.get(base + "/metrics") as response:
                metrics = await response.text()
        assert status["ami"]["connected"] is True
        assert (status["outbox_depth"], status["calls_in_progress"]) == (0, 0)
        assert status["counters"]["deliveries"] == {"delivered": 130}
        assert 'event_agent_system_events_total{event="call_answered"}' in metrics
        assert TOKEN not in metrics

    async def test_stop_keeps_pending(self, tmp_path: Path) -> None:
        """Given deliveries to a dead endpoint, when the agent stops, then it returns and rows stay pending."""
        simulator = AmiSimulator([TRACE], speed=0)
        ami_port = await simulator.start()
        await configure(tmp_path, free_port())
        settings = agent_settings(tmp_path, ami_port, drain_grace_period=0.2, retry_initial_delay=5,
                                  retry_max_delay=5)
        try:
            async with running_agent(settings) as agent:
                await agent.pump.wait_processed(1)
                await agent.sender.wait_quiet()
        finally:
            await simulator.stop()
        with sqlite3.connect(tmp_path / DATABASE_FILE) as db:
            states = dict(db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())
        assert states.get("pending", 0) > 0
        assert set(states) <= {"pending", "expired"}


class TestHousekeeping:
    async def test_purge(self, tmp_path: Path) -> None:
        """Given activity rows 40 days and 1 day old, when the agent purges (30-day retention), the new one stays."""
        async with running_agent(agent_settings(tmp_path, free_port())) as agent:
            now = time.time()
            for age_days in (40, 1):
                await agent.store.add_activity(NewActivity("a", 1, "call_answered", "c", 1, 200, "ok", 1.0,
                                                           now - age_days * 86400))
            await agent.retention.purge()
            items, _ = await agent.store.search_activity()
            assert [round((now - a.date) / 86400) for a in items] == [1]

    def test_rate_table(self) -> None:
        """Given stored rates, when turned into the tracker's rater, then it prices; invalid rates give none."""
        table = rate_table([RateRow("44", "0.60", "0", 0, 60, "UK", 1)])
        assert table is not None
        rating = table.rate("+44 20 7946 0000", 61.0)
        assert rating is not None
        assert (rating.cost, rating.rated_seconds) == ("1.20", 120)
        assert rate_table([RateRow("44", "lots")]) is None
        assert rate_table([]) is None


class TestServe:
    async def test_port_taken(self, tmp_path: Path, rx: Receiver) -> None:
        """Given the admin port already taken, when the daemon starts, then it stops cleanly with status 1."""
        assert await serve(agent_settings(tmp_path, free_port(), admin={"port": rx.port})) == 1

    async def test_sigterm(self, tmp_path: Path) -> None:
        """Given a running daemon, when it gets SIGTERM, then it drains and returns 0."""
        task = asyncio.create_task(serve(agent_settings(tmp_path, free_port())))
        await eventually((tmp_path / DATABASE_FILE).exists, what="the store opened")
        os.kill(os.getpid(), signal.SIGTERM)
        assert await task == 0


class TestAdminWiring:
    async def test_config_without_restart(self, tmp_path: Path, rx: Receiver) -> None:
        """Given a running agent with nothing configured, when an action is set up and tested through the API,
        then Save & Test reaches the receiver and the next call's event is delivered without a restart."""
        simulator = AmiSimulator([TRACE.with_name("01_internal_answered_caller_hangup.ami")], speed=0)
        simulator.pause_at(0)
        ami_port = await simulator.start()
        try:
            async with running_agent(agent_settings(tmp_path, ami_port)) as agent:
                base = f"http://127.0.0.1:{agent.api_port}/api/v1"
                async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
                    action_id = await self._configure(http, base, rx.url)
                    async with http.post(f"{base}/actions/{action_id}/test", json={}) as response:
                        tested = await response.json()
                    assert (tested["status"], tested["event"].startswith(f"test.{action_id}.")) == (200, True)
                    simulator.pause_at(None)
                    await rx.wait_for(2)
                    await agent.run_until_idle()
                    async with http.get(f"{base}/activity") as response:
                        activity = await response.json()
                assert [r.path for r in rx.requests] == ["/" + tested["event"], "/call_answered"]
                assert [a["event"] for a in activity["items"]] == ["call_answered", tested["event"]]
        finally:
            await simulator.stop()

    @staticmethod
    async def _configure(http: aiohttp.ClientSession, base: str, url: str) -> int:
        action: dict[str, object] = {"name": "hook", "description": "", "method": "POST", "url": url + "/{{event}}",
                  "query": [], "headers": [], "body": {"type": "none"}, "auth": {"type": "none"}, "timeout_s": None}
        async with http.post(f"{base}/actions", json=action) as response:
            assert response.status == 201, await response.text()
            action_id = int((await response.json())["id"])
        async with http.put(f"{base}/events/call_answered", json={"active": True, "actions": [action_id]}) as response:
            assert response.status == 200, await response.text()
        async with http.put(f"{base}/settings", json={"actions_enabled": True}) as response:
            assert response.status == 200, await response.text()
        return action_id


def _outbox_rows(path: Path) -> int:
    with contextlib.suppress(sqlite3.OperationalError), sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    return 0


@pytest.mark.heavy  # the agent as a process, SIGKILLed
class TestProcess:
    async def test_sigkill_loses_nothing(self, tmp_path: Path) -> None:
        """Given deliveries pending (receiver down), when the process is SIGKILLed and restarted, all arrive."""
        simulator = AmiSimulator([TRACE], speed=0)
        ami_port = await simulator.start()
        rx_port = free_port()
        await configure(tmp_path, rx_port)
        want = expected()
        daemon = Daemon(tmp_path, ami_port)
        try:
            await daemon.start()
            await eventually(lambda: _outbox_rows(tmp_path / DATABASE_FILE) >= len(want), what="every outbox row")
        finally:
            await daemon.kill()
            await simulator.stop()
        async with receiver(rx_port) as rx:
            try:
                await daemon.start()
                await rx.wait_for(len(want))
            finally:
                code = await daemon.stop()
            got = [seen(r) for r in rx.requests]
        assert code == 0
        key = ("event", "call_id", "extension")
        assert Counter(tuple(g[k] for k in key) for g in got) == Counter(tuple(w[k] for k in key) for w in want)
        with sqlite3.connect(tmp_path / DATABASE_FILE) as db:
            assert db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall() == [("delivered", 130)]
        assert TOKEN not in daemon.log_text()
