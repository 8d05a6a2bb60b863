"""100,000 calls from the recorded traces through the whole daemon (`event-agent run` as a process) at the
fastest speed, five actions bound (one per system event): every expected delivery made, resident memory at the
end within 20 MB of the memory after the first 1,000 calls, nothing left in the tracker once the calls are done.

The simulator (its own process, so that it does not starve the receiver in this one) loops over the Asterisk 22
lab traces (8 single calls and the 35-call load trace: 43 calls a pass); each pass is a distinct repetition
(fresh Uniqueids/Linkedids, later Timestamps). The expected deliveries of a pass are the golden files' events.
`SOAK_CALLS` changes the number of calls; `SOAK_SPEED` replays at that multiple of the recorded pace instead
of the fastest speed (0).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from agent.devtools.simulator import AmiSimulator
from tests.reliability.harness import SimProcess, configure, sink
from tests.reliability.report import Row, record
from tests.reliability.synth import LAB_TRACES, LOAD_TRACE, call_count, golden, trace_path
from tests.support.agent_runner import Daemon
from tests.support.polling import WAIT, eventually

TRACES = [trace_path(name) for name in (*LAB_TRACES, LOAD_TRACE)]
COMPLETIONS = ("call_answered", "call_unanswered")
MB_LIMIT = 20.0


@dataclass
class Samples:
    """Resident memory of the daemon over the run, in MB, and its outbox depth at the same moments."""

    after_first: float = 0.0
    peak: float = 0.0
    end: float = 0.0
    series: list[tuple[float, float, int]] = field(default_factory=list)

    def sketch(self, points: int = 12) -> str:
        """A few (seconds, MB, outbox depth) points across the run."""
        step = max(1, len(self.series) // points)
        return ", ".join(f"{t:.0f}s {mb:.0f}MB/{depth}" for t, mb, depth in self.series[::step])


async def watch_memory(daemon: Daemon, completions: Callable[[], int], first: int, samples: Samples) -> None:
    start = time.monotonic()
    while True:
        rss = daemon.rss_mb()
        samples.peak = max(samples.peak, rss)
        if not samples.after_first and completions() >= first:
            samples.after_first = rss
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            depth = int((await daemon.status())["outbox_depth"])
            samples.series.append((time.monotonic() - start, rss, depth))
        await asyncio.sleep(2.0)


@pytest.mark.slow
@pytest.mark.timeout(10800)
class TestSoakLoad:
    async def test_hundred_thousand_calls(self, tmp_path: Path) -> None:
        """Given 100,000 calls replayed at full speed through the daemon with 5 actions bound, when they are all
        done, then every expected delivery was made (none twice), the tracker holds no call, and resident memory
        at the end is within 20 MB of the memory after the first 1,000 calls."""
        per_pass = call_count(TRACES)
        passes = -(-int(os.environ.get("SOAK_CALLS", "100000")) // per_pass)
        calls = passes * per_pass
        golden_pass = Counter(item.event for path in TRACES for item in golden(path))
        expected = Counter({event: count * passes for event, count in golden_pass.items()})
        per_pass_events = AmiSimulator(TRACES).event_count
        speed = float(os.environ.get("SOAK_SPEED", "0"))
        simulator = await SimProcess(TRACES).start(pause_at=per_pass_events * passes, loop=True, speed=speed)
        samples = Samples()
        began = time.monotonic()
        async with sink(keep=False) as rx:
            await configure(tmp_path, rx.port, actions=5, per_event=True)
            daemon = await Daemon(tmp_path, simulator.port, LOG_LEVEL="WARNING").start()
            done = lambda: sum(rx.events[e] for e in COMPLETIONS)  # noqa: E731
            watcher = asyncio.create_task(watch_memory(daemon, done, 1000, samples))
            try:
                await eventually(lambda: done() >= calls, within=3 * 3600, what="every call completed")
                await eventually(lambda: rx.total >= sum(expected.values()), within=WAIT, what="every delivery")
                await asyncio.sleep(2.0)
                status = await daemon.status()
                samples.end = daemon.rss_mb()
            finally:
                watcher.cancel()
                code = await daemon.stop()
                await simulator.stop()
        seconds = time.monotonic() - began
        made = len(rx.counts)
        name = f"soak: {calls:,} calls, 5 actions, " + (f"speed x{speed:g}" if speed else "full speed")
        record(Row(
            name, passes, calls, sum(expected.values()), made, rx.duplicates,
            figures=(f"RSS after 1,000 calls {samples.after_first:.1f} MB, end {samples.end:.1f} MB, peak "
                     f"{samples.peak:.1f} MB; {calls / seconds:,.0f} calls/s, {made / seconds:,.0f} deliveries/s"),
            note=f"{seconds:.0f} s; status at the end: calls_in_progress={status['calls_in_progress']}, "
                 f"outbox_depth={status['outbox_depth']}, AMI events {status['ami']['events']}, reconnects "
                 f"{status['ami']['reconnects']}; RSS/outbox depth over the run: {samples.sketch()}",
        ))
        assert code == 0
        assert Counter(rx.events) == expected
        assert made == sum(expected.values())
        assert rx.duplicates == 0
        assert status["calls_in_progress"] == 0
        assert status["outbox_depth"] == 0
        assert samples.end - samples.after_first <= MB_LIMIT
