"""Asterisk faults, injected for real: the simulator process SIGKILLed mid-call and started again (the call
gone, or still up), Asterisk restarted (a new FullyBooted, new Uniqueids), and a half-open link (the simulator
process SIGSTOPped: its sockets stay open but nothing is read or written).

The agent runs in this process (the whole daemon: AMI client, pump, tracker, outbox, sender) and delivers to a
real receiver; what the receiver gets is compared with the golden files, read by hand from the traces.
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from agent.app import Agent
from agent.devtools.trace import trace_events
from tests.reliability.harness import SimProcess, Tally, configure, sink
from tests.reliability.report import Row, record
from tests.reliability.synth import HEAD, SEP, call_frames, fresh_copy, golden, golden_copies, trace_path
from tests.support.agent_runner import running_agent
from tests.support.polling import eventually
from tests.support.settings import agent_settings

RING = trace_path("09_inbound_ringgroup_203_answers")  # 111 events; 203 answers at 61, trunk hangs up at 99
ANSWERED_AT = 65  # after DialEnd ANSWER and the trunk's Newstate Up, before any Hangup
LOAD = trace_path("13_load_mixed_35_calls")
COMPLETIONS = ("call_answered", "call_unanswered")


@pytest.fixture
async def sims() -> AsyncIterator[list[SimProcess]]:
    """Simulator processes to stop at the end, whatever the test's outcome."""
    started: list[SimProcess] = []
    yield started
    for sim in started:
        await sim.stop()


@asynccontextmanager
async def delivering_to(rx: Tally, tmp_path: Path, ami_port: int, **ami: float) -> AsyncIterator[Agent]:
    """An agent (no admin API) configured to deliver every event to `rx`; `ami` changes its AMI settings."""
    await configure(tmp_path, rx.port)
    settings = agent_settings(tmp_path, ami_port, ami=ami)
    async with running_agent(settings) as agent:
        yield agent


async def processed(agent: Agent, events: int) -> None:
    """Wait until the pump has handled `events` AMI events and every delivery so far is done."""
    await eventually(lambda: agent.metrics.ami_events.value() >= events, what=f"{events} AMI events processed")
    await agent.run_until_idle()


def started_before(trace: Path, index: int) -> set[str]:
    """The calls (Linkedids) with an event among the first `index` events of the trace."""
    return {e.headers["Linkedid"] for e in trace_events(trace.read_bytes())[:index] if "Linkedid" in e.headers}


def keys(rx: Tally) -> Counter[tuple[str, str, str]]:
    return Counter((a.event, a.call_id, a.extension) for a in rx.arrivals)


class TestAsteriskGone:
    async def test_killed_call_gone(self, tmp_path: Path, sims: list[SimProcess]) -> None:
        """Given a ring-group call answered by 203, when the simulator process is SIGKILLed mid-call and comes
        back after the call ended, then the agent reconnects, resyncs, and completes the call once
        (call_answered, 203, reconciled=1); nothing is delivered twice."""
        sim = await SimProcess([RING]).start(pause_at=ANSWERED_AT)
        sims.append(sim)
        async with sink() as rx, delivering_to(rx, tmp_path, sim.port) as agent:
            await processed(agent, ANSWERED_AT)
            before = keys(rx)
            await sim.kill()
            await sim.start(resume_at=111)
            await eventually(lambda: agent.ami.reconnects == 1, what="reconnect")
            await eventually(lambda: rx.events["call_answered"] == 1, what="completion")
            await agent.run_until_idle()
            final = [a for a in rx.arrivals if a.event in COMPLETIONS]
            assert [(a.event, a.extension, a.reconciled) for a in final] == [("call_answered", "203", "1")]
            assert before == Counter({("call_incoming", "1795872015.49", e): 1 for e in ("202", "203", "204")}) + \
                Counter({("ringing", "1795872015.49", e): 1 for e in ("202", "203", "204")})
            assert rx.duplicates == 0
            assert (agent.tracker.calls_in_progress, agent.tracker.tracked_channels) == (0, 0)
        await sim.stop()
        record(Row("AMI peer killed, call gone", 1, 1, 7, rx.total, rx.duplicates))

    async def test_killed_call_still_up(self, tmp_path: Path, sims: list[SimProcess]) -> None:
        """Given the same call, when the simulator is SIGKILLed mid-call and comes back with the call still up,
        then the resync keeps the call and the rest of the trace completes it normally: exactly the golden
        events, each once, none reconciled."""
        sim = await SimProcess([RING]).start(pause_at=ANSWERED_AT)
        sims.append(sim)
        async with sink() as rx, delivering_to(rx, tmp_path, sim.port) as agent:
            await processed(agent, ANSWERED_AT)
            await sim.kill()
            await sim.start(resume_at=ANSWERED_AT)
            await eventually(lambda: agent.ami.reconnects == 1, what="reconnect")
            await eventually(lambda: rx.events["call_answered"] == 1, what="completion")
            await agent.run_until_idle()
            assert keys(rx) == Counter(item.key for item in golden(RING))
            assert [a.reconciled == "1" for a in rx.arrivals if a.event in COMPLETIONS] == [False]
            assert (agent.tracker.calls_in_progress, agent.tracker.tracked_channels) == (0, 0)
        await sim.stop()
        record(Row("AMI peer killed, call still up", 1, 1, 7, rx.total, rx.duplicates))


class TestAsteriskRestart:
    async def test_restart_leaves_no_stale_call(self, tmp_path: Path, sims: list[SimProcess]) -> None:
        """Given the 35-call trace stopped with calls in progress, when Asterisk restarts (killed, then a new
        FullyBooted and new Uniqueids), then every call that was in progress completes once with reconciled=1,
        the new calls are delivered as their goldens say, and the tracker ends holding nothing."""
        stop_at = 1100
        restarted = tmp_path / "restarted.ami"
        fresh = [trace_path("01_internal_answered_caller_hangup"), trace_path("05_internal_caller_cancel")]
        restarted.write_bytes(HEAD + b"".join(
            b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 1\r\nLastReload: 1\r\nStatus: Fully Booted"
            + SEP + b"".join(frame + SEP for frame in call_frames(fresh_copy(path.read_bytes(), 7)))
            for path in fresh
        ))
        sim = await SimProcess([LOAD]).start(pause_at=stop_at)
        sims.append(sim)
        async with sink() as rx, delivering_to(rx, tmp_path, sim.port) as agent:
            await processed(agent, stop_at)
            done = {a.call_id for a in rx.arrivals if a.event in COMPLETIONS}
            open_calls = started_before(LOAD, stop_at) & {g.call_id for g in golden(LOAD) if g.event in COMPLETIONS}
            open_calls -= done
            assert agent.tracker.calls_in_progress >= len(open_calls) > 0
            await sim.kill()
            sim.traces = [restarted]
            await sim.start()
            new_golden = golden_copies(fresh, [7])
            await eventually(lambda: {a.call_id for a in rx.arrivals if a.event in COMPLETIONS}
                             >= open_calls | {g.call_id for g in new_golden}, what="completions")
            await agent.run_until_idle()
            finals = Counter(a.call_id for a in rx.arrivals if a.event in COMPLETIONS)
            assert all(count == 1 for count in finals.values())
            assert {a.call_id for a in rx.arrivals if a.reconciled == "1"} == open_calls
            assert Counter(k for k in keys(rx).elements() if k[1] in {g.call_id for g in new_golden}) == Counter(
                g.key for g in new_golden)
            assert rx.duplicates == 0
            assert (agent.tracker.calls_in_progress, agent.tracker.tracked_channels) == (0, 0)
        await sim.stop()
        fresh = {g.call_id for g in new_golden}
        made = len({a.call_id for a in rx.arrivals if a.event in COMPLETIONS and a.call_id in open_calls}) + len(
            [a for a in rx.arrivals if a.call_id in fresh])
        record(Row("Asterisk restarted", 1, len(open_calls), len(open_calls) + len(new_golden), made, rx.duplicates,
                   note="completions of the calls in progress + the new calls' events"))


class TestHalfOpen:
    async def test_sigstopped_peer(self, tmp_path: Path, sims: list[SimProcess]) -> None:
        """Given a link whose peer process is frozen (SIGSTOP: the socket stays open, nothing is read or
        written), when Pings go unanswered, then the agent drops the link, logs in again once the peer runs,
        and the call completes normally with every golden event delivered once."""
        sim = await SimProcess([RING]).start(pause_at=ANSWERED_AT)
        sims.append(sim)
        async with sink() as rx, delivering_to(rx, tmp_path, sim.port, ping_interval=0.3) as agent:
            await processed(agent, ANSWERED_AT)
            await sim.command(f"drop {ANSWERED_AT}")  # later logins resume where the agent is
            await eventually(lambda: agent.ami.reconnects == 1 and agent.ami.connected, what="first reconnect")
            sim.signal(signal.SIGSTOP)
            await eventually(lambda: not agent.ami.connected, what="half-open link detected")
            reason = agent.ami.status().last_error
            sim.signal(signal.SIGCONT)
            await eventually(lambda: agent.ami.reconnects == 2 and agent.ami.connected, what="second reconnect")
            await sim.command("pause none")
            await eventually(lambda: rx.events["call_answered"] == 1, what="completion")
            await agent.run_until_idle()
            assert "Ping" in reason
            assert keys(rx) == Counter(item.key for item in golden(RING))
            assert (agent.tracker.calls_in_progress, agent.tracker.tracked_channels) == (0, 0)
        await sim.stop()
        record(Row("AMI link half-open", 1, 1, 7, rx.total, rx.duplicates))
