"""`make demo`'s own stream left running for 10 minutes delivers only correct durations and dates.

The demo's parts as `event-agent demo` runs them (agent.devtools.demo: its simulator looping the bundled traces at
real speed with their timestamps moved to now, its sink, its agent with the demo action and rate, default settings),
with a raw recorder logged in to the same simulator first. What the sink got is compared call by call with the
rated replay of the recording (tests/support/loop.py), and each completed call's durations with the golden of the
trace it repeats.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent.devtools.demo import DEMO_PARAMETERS, DEMO_RATES, demo_simulator, demo_traces, running_agent, sink
from agent.mapping.config import compile_mapping
from agent.settings import Settings
from tests.reliability.report import Row, record
from tests.support.loop import COMPLETIONS, Recorder, compare, rated_replay
from tests.support.paths import TRACES

RUN_S = 600.0
_ID_SPACE = 1_000_000  # the simulator's renumbering of each loop (docs/traces.md)


def golden_durations() -> dict[str, tuple[str, str]]:
    """(duration, talk_duration) of each bundled trace's completed call, by its recorded call_id."""
    found: dict[str, tuple[str, str]] = {}
    for trace in demo_traces():
        for line in (TRACES / f"{trace.stem}.expected.jsonl").read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            if event["event"] in COMPLETIONS:
                params = event["params"]
                found[params["call_id"]] = (params["duration"], params["talk_duration"])
    return found


def recorded_id(call_id: str) -> str:
    """The call_id a looped call had in its trace (the loop adds a multiple of 1,000,000 to the sequence)."""
    epoch, sequence = call_id.split(".")
    return f"{epoch}.{int(sequence) % _ID_SPACE}"


@pytest.mark.slow
@pytest.mark.timeout(int(RUN_S) + 300)
async def test_demo_stream_for_ten_minutes(tmp_path: Path) -> None:
    """Given the demo left running for 10 minutes (about 13 loops of its five calls, ten housekeeping ticks at the
    default interval), then every call its sink got equals the rated replay of the recorded stream in every demo
    parameter, every completed call has its recording's duration and talk duration, and every date is today's."""
    received: list[dict[str, str]] = []
    state = tmp_path / "state"
    state.mkdir()
    simulator = demo_simulator()
    settings = Settings()
    zone = ZoneInfo(settings.mapping.timezone)
    before = dt.datetime.now(zone).date()
    try:
        recorder = await Recorder.login(await simulator.start())
        async with (sink(lambda _path, body: received.append(json.loads(body))) as url,
                    running_agent(settings, state, simulator.port, url) as run):
            await asyncio.sleep(RUN_S)
            config = compile_mapping(run.settings.mapping)
        recording = tmp_path / "recording.ami"
        recording.write_bytes(await recorder.stop())
    finally:
        await simulator.stop()
    after = dt.datetime.now(zone).date()
    comparison = compare(received, rated_replay(recording, config, DEMO_RATES), DEMO_PARAMETERS)
    assert comparison.differing == {}
    assert comparison.whole >= int(RUN_S // 60) * len(demo_traces())  # a loop takes 46 s: over one a minute
    goldens = golden_durations()
    completed = [body for body in received if body["event"] in COMPLETIONS]
    assert {(body["call_id"], body["duration"], body["talk_duration"]) for body in completed} == {
        (body["call_id"], *goldens[recorded_id(body["call_id"])]) for body in completed
    }
    assert {body["date"] for body in received} <= {before.isoformat(), after.isoformat()}
    record(Row("make demo for 10 minutes vs replay", int(RUN_S / 60), comparison.calls, comparison.expected,
               comparison.delivered, comparison.delivered - comparison.expected,
               f"{len(comparison.differing)} differing calls, {len(completed)} completed",
               "injections: housekeeping ticks at the default 60 s"))
