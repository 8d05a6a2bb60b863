"""`event-agent demo`: its bundled traces replay to their goldens with the demo's settings and rate; as a real
subprocess it prints the admin URL, the token and a working `event-agent status` line, calls flow into the activity
log, and SIGINT stops it with status 0."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from agent.devtools.demo import DEMO_PARAMETERS, DEMO_RATES, TRACES_DIR, demo_action, demo_settings, demo_traces
from agent.mapping.catalog import EVENT_KEYS, SystemEvent
from agent.mapping.config import compile_mapping
from agent.settings import Settings
from agent.webhooks.template import tags_used
from tests.support.loop import rated_replay
from tests.support.paths import ROOT, TRACES
from tests.support.polling import eventually

POLL_LIMIT_S = 90.0
# Trace 08: 201 dials 15551239876 through the trunk. DialEnd ANSWER at 1795872004.588782, last Hangup at
# 1795872008.596038: 4.007256 s billable, 5 whole seconds. The demo rate (prefix 1555, minimum 30 s, increment
# 6 s, 0.10 connection fee, 0.05 a minute) rates max(30, 6) = 30 s and costs 0.10 + 0.05 * 30/60 = 0.125,
# 0.13 rounded half up to cents. Every other demo call is not outbound: no cost.
RATED = {"08_outbound_trunk_answered": {"call_cost": "0.13", "call_rating_duration": "30"}}


def demo_replay(trace: Path) -> list[SystemEvent]:
    """The system events of a bundled trace with the demo's mapping settings and rate table."""
    settings = demo_settings(Settings(), Path("unused"), 5038, "t" * 32)
    return rated_replay(trace, compile_mapping(settings.mapping), DEMO_RATES)


def golden(trace: Path) -> list[dict[str, object]]:
    text = (TRACES / f"{trace.stem}.expected.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class TestDemoTraces:
    @pytest.mark.parametrize("trace", demo_traces(), ids=lambda path: path.stem)
    def test_replays_to_golden(self, trace: Path) -> None:
        """Given a bundled trace (the recorded fixture, byte for byte), when replayed with the demo's settings and
        rate, then its events are the golden ones, every golden value equal; call_cost as worked out above."""
        assert trace.read_bytes() == (TRACES / trace.name).read_bytes()
        expected = golden(trace)
        actual = demo_replay(trace)
        assert [(event.name, event.params["extension"]) for event in actual] == [
            (line["event"], line["params"]["extension"]) for line in expected  # type: ignore[index]
        ]
        for line, event in zip(expected, actual, strict=True):
            params: dict[str, str] = line["params"]  # type: ignore[assignment]
            assert {key: event.params[key] for key in params} == params
        rated = RATED.get(trace.stem, {"call_cost": ""})
        completion = actual[-1]
        assert {key: completion.params[key] for key in rated} == rated
        assert all(event.params["call_cost"] == "" for event in actual[:-1])

    def test_every_event_kind(self) -> None:
        """Given the bundled traces, then together they fire all five events, an inbound, an outbound and an
        internal call, a rated call and a ring group (one call offered to three extensions)."""
        events = [event for trace in demo_traces() for event in demo_replay(trace)]
        assert {event.name for event in events} == EVENT_KEYS
        assert {event.params["direction"] for event in events} == {"inbound", "outbound", "internal"}
        assert any(event.params["call_cost"] for event in events)
        offered = {event.call_id: event.params["offered_extensions"] for event in events
                   if event.name == "call_answered"}
        assert "202,203,204" in offered.values()


async def _line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    return (await asyncio.wait_for(process.stdout.readline(), timeout=60)).decode().rstrip("\n")


async def _delivered(session: aiohttp.ClientSession, admin: str, token: str) -> list[dict[str, object]]:
    """Poll the activity log (bounded) until it holds delivered attempts."""
    items: list[dict[str, object]] = []

    async def some() -> bool:
        async with session.get(f"{admin}api/v1/activity", params={"failed": "false"},
                               headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 200
            items[:] = (await response.json())["items"]
        return bool(items)

    await eventually(some, within=POLL_LIMIT_S, every=0.5, what="delivered activity")
    return items


async def _run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run a command to its end: exit status and stdout."""
    process = await asyncio.create_subprocess_exec(*command, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode()


class TestDemo:
    def test_bundled(self) -> None:
        """Given the package, then it ships the five traces and the demo action carries the demo parameters."""
        assert len(list(TRACES_DIR.glob("*.ami"))) == 5
        assert tags_used(demo_action("http://127.0.0.1:1")) == {*DEMO_PARAMETERS, "Demo_API_Key"}
        assert {"call_cost", "call_rating_duration", "date", "time", "duration"} <= set(DEMO_PARAMETERS)

    @pytest.mark.heavy  # the demo as a process
    async def test_demo_runs_and_stops(self, tmp_path: Path) -> None:
        """Given `event-agent demo`, when run, then Admin/Token/Status lines, delivered activity, the printed
        `event-agent status` command reports the AMI link up, and exit 0 on SIGINT."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("EVENT_AGENT_")}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "demo", cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            admin_line, token_line, status_line = await _line(process), await _line(process), await _line(process)
            admin = re.fullmatch(r"Admin: (http://127\.0\.0\.1:\d+/)", admin_line)
            token = re.fullmatch(r"Token: (\S+)", token_line)
            assert admin, admin_line
            assert token, token_line
            assert status_line.startswith("Status: "), status_line
            assert process.stdout is not None
            assert process.stderr is not None
            output = asyncio.gather(process.stdout.read(), process.stderr.read())
            async with aiohttp.ClientSession() as session:
                items = await _delivered(session, admin.group(1), token.group(1))
            assert items[0]["action"] == "Demo sink"
            assert items[0]["status"] == 200
            status = await _run(shlex.split(status_line.removeprefix("Status: ")), env, tmp_path)
            assert status[0] == 0, status
            assert "Ami:\n  Connected: yes\n" in status[1]
            assert token.group(1) not in status[1]
            process.send_signal(signal.SIGINT)
            code = await asyncio.wait_for(process.wait(), timeout=60)
            logs, errors = await output
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert code == 0, errors.decode()
        assert b"Traceback" not in logs + errors
        assert token.group(1).encode() not in logs + errors
        assert not os.listdir(tmp_path)
