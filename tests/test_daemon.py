"""The whole daemon: AMI simulator -> AMI client -> tracker -> dispatcher -> outbox -> receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qsl, unquote

import aiohttp
from pydantic import SecretStr

from agent.admin_api.rates import rate_table
from agent.app import DATABASE_FILE, Agent, serve
from agent.devtools.simulator import AmiSimulator
from agent.mapping.catalog import EVENT_KEYS
from agent.settings import AdminSettings, AmiSettings, Settings
from agent.store.facade import NewActivity, Store
from agent.store.model import Action, Body, Parameter
from agent.store.records import RateRow
from tests.delivery_support import Received, fast_delivery, free_port, receiver

ROOT = Path(__file__).resolve().parent.parent
TRACE = ROOT / "tests/fixtures/ami_traces/13_load_mixed_35_calls.ami"
GOLDEN = TRACE.with_name("13_load_mixed_35_calls.expected.jsonl")
TOKEN = "test-token-0123456789abcdefghijklmnop"
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
    query = dict(parse_qsl(request.query_string, keep_blank_values=True))
    body = json.loads(request.body)
    return {"event": event, "call_id": unquote(call_id), "extension": query["ext"], "direction": query["dir"], **body}


def matches(got: list[dict[str, str]], want: list[dict[str, str]]) -> list[dict[str, str]]:
    """`got` cut down to the keys each golden line states, in order (to compare with the golden)."""
    return [{key: one.get(key, "") for key in golden} for one, golden in zip(got, want, strict=True)]


def by_call(items: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    calls: dict[str, list[dict[str, str]]] = {}
    for item in items:
        calls.setdefault(item["call_id"], []).append(item)
    return calls


def settings_for(state_dir: Path, ami_port: int) -> Settings:
    return Settings(
        state_dir=state_dir,
        ami=AmiSettings(host="127.0.0.1", port=ami_port, reconnect_min=0.1, reconnect_max=0.5),
        admin=AdminSettings(host="127.0.0.1", port=0, token=SecretStr(TOKEN)),
        delivery=fast_delivery(),
    )


class TestAgent:
    async def test_replay_trace(self, tmp_path: Path) -> None:
        """Given a 35-call trace served over AMI, when the agent runs, then each call's requests match the golden."""
        simulator = AmiSimulator([TRACE], speed=0)
        ami_port = await simulator.start()
        want = expected()
        async with receiver() as rx:
            await configure(tmp_path, rx.port)
            agent = await Agent.open(settings_for(tmp_path, ami_port))
            try:
                await rx.wait_for(len(want), within=60)
                await agent.run_until_idle()
                got = [seen(r) for r in rx.requests]
                calls, golden = by_call(got), by_call(want)
                assert sorted(calls) == sorted(golden)
                for call_id, events in golden.items():
                    assert matches(calls[call_id], events) == events, call_id
                assert len({g["event_id"] for g in got}) == len(want)
                await self._check_api(agent)
            finally:
                await agent.stop()
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
        settings = settings_for(tmp_path, ami_port).model_copy(
            update={"delivery": fast_delivery(drain_grace_period=0.2, retry_initial_delay=5, retry_max_delay=5)})
        agent = await Agent.open(settings)
        try:
            await agent.pump.wait_processed(1)
            await agent.sender.wait_quiet()
        finally:
            await agent.stop()
            await simulator.stop()
        with sqlite3.connect(tmp_path / DATABASE_FILE) as db:
            states = dict(db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())
        assert states.get("pending", 0) > 0
        assert set(states) <= {"pending", "expired"}


class TestHousekeeping:
    async def test_purge(self, tmp_path: Path) -> None:
        """Given activity rows 40 days and 1 day old, when the agent purges (30-day retention), the new one stays."""
        agent = await Agent.open(settings_for(tmp_path, free_port()))
        try:
            now = time.time()
            for age_days in (40, 1):
                await agent.store.add_activity(NewActivity("a", 1, "call_answered", "c", 1, 200, "ok", 1.0,
                                                           now - age_days * 86400))
            await agent.retention.purge()
            items, _ = await agent.store.search_activity()
            assert [round((now - a.date) / 86400) for a in items] == [1]
        finally:
            await agent.stop()

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
    async def test_port_taken(self, tmp_path: Path) -> None:
        """Given the admin port already taken, when the daemon starts, then it stops cleanly with status 1."""
        async with receiver() as taken:
            settings = settings_for(tmp_path, free_port())
            settings = settings.model_copy(update={"admin": AdminSettings(port=taken.port, token=SecretStr(TOKEN))})
            assert await serve(settings) == 1

    async def test_sigterm(self, tmp_path: Path) -> None:
        """Given a running daemon, when it gets SIGTERM, then it drains and returns 0."""
        task = asyncio.create_task(serve(settings_for(tmp_path, free_port())))
        for _ in range(400):
            if (tmp_path / DATABASE_FILE).exists():
                break
            await asyncio.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)
        assert await task == 0


class TestAdminWiring:
    async def test_config_without_restart(self, tmp_path: Path) -> None:
        """Given a running agent with nothing configured, when an action is set up and tested through the API,
        then Save & Test reaches the receiver and the next call's event is delivered without a restart."""
        simulator = AmiSimulator([TRACE.with_name("01_internal_answered_caller_hangup.ami")], speed=0)
        simulator.pause_at(0)
        ami_port = await simulator.start()
        async with receiver() as rx:
            agent = await Agent.open(settings_for(tmp_path, ami_port))
            try:
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
                await agent.stop()
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


def _env(state_dir: Path, ami_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENT_AGENT_")}
    env.update({
        "EVENT_AGENT_STATE_DIR": str(state_dir),
        "EVENT_AGENT_AMI__PORT": str(ami_port),
        "EVENT_AGENT_AMI__RECONNECT_MIN": "0.1",
        "EVENT_AGENT_AMI__RECONNECT_MAX": "0.5",
        "EVENT_AGENT_ADMIN__PORT": "0",
        "EVENT_AGENT_ADMIN__TOKEN": TOKEN,
        "EVENT_AGENT_DELIVERY__RETRY_INITIAL_DELAY": "0.05",
        "EVENT_AGENT_DELIVERY__RETRY_MAX_DELAY": "0.2",
        "EVENT_AGENT_DELIVERY__CONNECT_TIMEOUT": "1",
        "EVENT_AGENT_DELIVERY__LIVE_RETRY_WINDOW": "3600",
    })
    return env


async def _spawn(state_dir: Path, ami_port: int, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "run", cwd=ROOT, env=_env(state_dir, ami_port), stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )


async def _outbox_rows(path: Path, count: int) -> None:
    for _ in range(1200):
        with contextlib.suppress(sqlite3.OperationalError), sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            if db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] >= count:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} outbox rows")


class TestProcess:
    async def test_sigkill_loses_nothing(self, tmp_path: Path) -> None:
        """Given deliveries pending (receiver down), when the process is SIGKILLed and restarted, all arrive."""
        simulator = AmiSimulator([TRACE], speed=0)
        ami_port = await simulator.start()
        rx_port = free_port()
        await configure(tmp_path, rx_port)
        want = expected()
        first = await _spawn(tmp_path, ami_port, tmp_path / "agent.log")
        try:
            await _outbox_rows(tmp_path / DATABASE_FILE, len(want))
        finally:
            first.kill()
            await first.wait()
            await simulator.stop()
        async with receiver(rx_port) as rx:
            second = await _spawn(tmp_path, ami_port, tmp_path / "agent.log")
            try:
                await rx.wait_for(len(want), within=60)
            finally:
                second.send_signal(signal.SIGTERM)
                code = await second.wait()
            got = [seen(r) for r in rx.requests]
        assert code == 0
        key = ("event", "call_id", "extension")
        assert Counter(tuple(g[k] for k in key) for g in got) == Counter(tuple(w[k] for k in key) for w in want)
        with sqlite3.connect(tmp_path / DATABASE_FILE) as db:
            assert db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall() == [("delivered", 130)]
        log = (tmp_path / "agent.log").read_text(encoding="utf-8")
        assert TOKEN not in log
