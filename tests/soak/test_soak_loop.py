"""The long form of tests/integration/test_loop.py: the daemon against `event-agent simulate --loop` for minutes,
checked call by call against offline replay of a raw recording of the same stream (tests/support/loop.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.devtools.demo import demo_traces
from tests.reliability.report import Row, record
from tests.support.loop import LoopRun, check_loop

# Speed 4: a loop of the five demo traces takes about 11 s; 180 s are 16 loops (80 calls) and, with housekeeping
# every 0.5 s, 360 ticks.
SECONDS, SPEED, TICK = 180.0, 4.0, 0.5


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("keep", [True, False], ids=["recorded-timestamps", "timestamps-now"])
async def test_daemon_delivers_what_replay_gives_for_minutes(tmp_path: Path, keep: bool) -> None:
    """Given the demo traces looping at speed 4, their Timestamps as recorded or moved to now, and housekeeping every
    0.5 s, when the daemon and a raw recorder take the same stream for 3 minutes, then every call the daemon
    delivered equals replay of the recording, every event, every parameter (at least ten loops compared)."""
    traces = len(demo_traces())
    run = LoopRun(seconds=SECONDS, speed=SPEED, keep_timestamps=keep, housekeeping=TICK)
    comparison = await check_loop(run, tmp_path, 10 * traces)
    stamps = "recorded timestamps" if keep else "timestamps now"
    record(Row(f"simulate --loop vs replay ({stamps})", int(SECONDS / TICK), comparison.calls, comparison.expected,
               comparison.delivered, comparison.delivered - comparison.expected,
               f"{len(comparison.differing)} differing calls", "injections: housekeeping ticks"))
