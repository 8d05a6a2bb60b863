"""The daemon against `event-agent simulate --loop`, checked call by call against offline replay of a raw recording
of the same stream (tests/support/loop.py). The short form; the long one is tests/soak/test_soak_loop.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.devtools.demo import demo_traces
from tests.support.loop import LoopRun, check_loop

# Speed 8: one loop of the five demo traces (45 s as recorded) takes about 6 s, so 12 s are two loops and, with
# housekeeping every 0.5 s, 24 ticks, most of them while a call is in progress.
SECONDS, SPEED = 12.0, 8.0


@pytest.mark.heavy  # the daemon and the simulator as processes for 12 s
@pytest.mark.timeout(180)
@pytest.mark.parametrize("keep", [True, False], ids=["recorded-timestamps", "timestamps-now"])
async def test_daemon_delivers_what_replay_gives(tmp_path: Path, keep: bool) -> None:
    """Given the demo traces looping at speed 8, their Timestamps as recorded (days old: expiry must run on the AMI
    clock) or moved to now, and housekeeping every 0.5 s, when the daemon and a raw recorder take the same stream
    for 12 s, then every call the daemon delivered equals replay of the recording, every event, every parameter,
    over at least one whole loop, and the dates are the recording's or today's."""
    await check_loop(LoopRun(seconds=SECONDS, speed=SPEED, keep_timestamps=keep), tmp_path, len(demo_traces()))
