"""Long forms of the fault tests (tests/reliability/ has the short ones), so `make soak` prints every fault:
the agent SIGKILLed 50 times, the AMI peer SIGKILLed 20 times with calls missed while it was away, a burst of
1,600 concurrent calls against the 5,000 events/s of the issue, and the short forms run again for the table.
"""

from __future__ import annotations

import logging
import os
import random
from collections import Counter
from pathlib import Path

import pytest

from agent.devtools.trace import trace_events
from tests.reliability import test_ami_faults, test_receiver_faults, test_store_faults
from tests.reliability.harness import SimProcess, configure, sink
from tests.reliability.report import Row, record
from tests.reliability.synth import golden, trace_path
from tests.reliability.test_ami_burst import burst, report
from tests.reliability.test_ami_faults import sims  # noqa: F401 (the fixture of the short forms run again here)
from tests.reliability.test_kill9 import check, kill_run
from tests.support.agent_runner import running_agent
from tests.support.polling import eventually
from tests.support.settings import agent_settings

LOAD = trace_path("13_load_mixed_35_calls")
COMPLETIONS = ("call_answered", "call_unanswered")


class Resyncs(logging.Handler):
    """Counts the pump's 'AMI connected; resync' lines (the snapshot has been applied)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "resync with" in record.getMessage():
            self.count += 1


def dial_missed(events: list[dict[str, str]], gaps: list[tuple[int, int]]) -> set[str]:
    """Calls whose first DialBegin fell in a gap (see test_resync_race.TestMissedDialBegin)."""
    first_dial: dict[str, int] = {}
    for index, headers in enumerate(events):
        if headers.get("Event") == "DialBegin":
            first_dial.setdefault(headers.get("Linkedid") or headers.get("DestLinkedid", ""), index)
    return {call for call, dial in first_dial.items() if any(a <= dial < b for a, b in gaps)}


def unknowable(events: list[dict[str, str]], gaps: list[tuple[int, int]]) -> set[str]:
    """Calls the agent cannot know were ever offered: their first DialBegin and their last event both fall in
    the same gap (nobody connected, and the call is gone from the snapshot taken at the gap's end)."""
    first_dial: dict[str, int] = {}
    last: dict[str, int] = {}
    for index, headers in enumerate(events):
        call = headers.get("Linkedid") or headers.get("DestLinkedid", "")
        if call:
            last[call] = index
            if headers.get("Event") == "DialBegin":
                first_dial.setdefault(call, index)
    return {call for call, dial in first_dial.items() if any(a <= dial and last[call] < b for a, b in gaps)}


async def peer_kills(tmp_path: Path, kills: int, seed: int) -> tuple[Counter[str], int, set[str], int, set[str]]:
    """Replay the 35-call trace, SIGKILLing the simulator `kills` times; it comes back 0-40 events later (the
    events in between happen while nobody listens). Kill points are at least 60 events apart."""
    rng = random.Random(seed)
    events = [dict(e.headers) for e in trace_events(LOAD.read_bytes())]
    slots = sorted(rng.sample(range((len(events) - 150) // 60), kills))
    gaps = [(50 + 60 * slot, 50 + 60 * slot + rng.randrange(0, 40)) for slot in slots]
    starts, ends = [0, *(back for _, back in gaps)], [*(point for point, _ in gaps), len(events)]
    resyncs = Resyncs()
    pump_log = logging.getLogger("agent.ingest.pump")
    level = pump_log.level
    pump_log.setLevel(logging.INFO)
    pump_log.addHandler(resyncs)
    sim = await SimProcess([LOAD]).start(pause_at=ends[0])
    try:
        async with sink() as rx:
            await configure(tmp_path, rx.port)
            async with running_agent(agent_settings(tmp_path, sim.port)) as agent:
                for n in range(len(starts)):
                    if n:
                        await sim.kill()
                        await sim.start(resume_at=starts[n], pause_at=starts[n])
                        await eventually(lambda n=n: resyncs.count >= n + 1, what="resync")
                        await sim.command(f"pause {ends[n]}")
                    streamed = sum(end - start for start, end in zip(starts[: n + 1], ends, strict=False))
                    await eventually(lambda s=streamed: agent.metrics.ami_events.value() >= s, what="caught up")
                    await agent.run_until_idle()
                in_progress = agent.tracker.calls_in_progress
    finally:
        pump_log.removeHandler(resyncs)
        pump_log.setLevel(level)
        await sim.stop()
    finals = Counter(a.call_id for a in rx.arrivals if a.event in COMPLETIONS)
    return finals, rx.duplicates, unknowable(events, gaps), in_progress, dial_missed(events, gaps)


@pytest.mark.slow
@pytest.mark.timeout(1800)
class TestLongFaults:
    async def test_agent_killed_fifty_times(self, tmp_path: Path) -> None:
        """Given the 35-call replay, when the agent is SIGKILLed at 50 random points, then every row is
        delivered, every call completes once, and only requests in flight at a kill arrive twice."""
        check(await kill_run(tmp_path, 50, int(os.environ.get("RELIABILITY_SEED", "50"))),
              "agent SIGKILLed mid-replay (long)")

    async def test_peer_killed_twenty_times(self, tmp_path: Path) -> None:
        """Given the 35-call replay, when the simulator process is SIGKILLed 20 times and comes back 0-40 events
        later each time, then every call the agent could see completes exactly once, nothing arrives twice,
        and the tracker ends empty."""
        finals, duplicates, unseen, in_progress, missed = await peer_kills(tmp_path, 20, 20)
        due = {g.call_id for g in golden(LOAD) if g.event in COMPLETIONS} - unseen
        lost = due - set(finals)
        record(Row("AMI peer SIGKILLed, back 0-40 events later", 20, len(due), len(due), len(due & set(finals)),
                   duplicates, note=f"{len(unseen)} calls offered and ended while the peer was away (unknowable); "
                                    f"{len(lost)} without completion, their DialBegin missed in a gap "
                                    "(see test_resync_race.TestMissedDialBegin)"))
        assert lost <= missed
        assert set(finals.values()) == {1}
        assert duplicates == 0
        assert in_progress == 0

    async def test_burst_rate(self, tmp_path: Path) -> None:
        """Given 1,600 concurrent calls (about 75,000 events) at full speed with every endpoint down, when read,
        then the read loop keeps at least 5,000 events/s, never drops the link, and commits every row."""
        result = await burst(tmp_path, 200)
        report(result, "AMI burst, webhooks down (long)")
        assert result.reconnects == 0
        assert result.stored == result.expected
        assert result.rate >= 5000


def again(*short: type) -> type:
    """The short forms of tests/reliability again, marked slow (only `make soak` runs them), so that the soak
    table lists them too."""
    return pytest.mark.timeout(1800)(pytest.mark.slow(type(f"{short[0].__name__}Again", short, {})))


TestAsteriskGoneAgain = again(test_ami_faults.TestAsteriskGone)
TestAsteriskRestartAgain = again(test_ami_faults.TestAsteriskRestart)
TestHalfOpenAgain = again(test_ami_faults.TestHalfOpen)
TestReceiverFaultsAgain = again(test_receiver_faults.TestReceiverFaults)
TestStoreFaultsAgain = again(test_store_faults.TestDatabaseLocked, test_store_faults.TestDiskFull)
