"""The agent process SIGKILLed at random points of a trace replay, deliveries in flight, then started again.

The simulator streams the 35-call trace to the agent in steps; at each random kill point the agent has turned
every event so far into committed outbox rows and tracker log rows, and deliveries are on their way to a
receiver that takes a while to answer. Then SIGKILL. The simulator carries on from that point for the next
login, as a PBX would.

After all the restarts: every outbox row was delivered at least once, every call got exactly one completion
event, those restarted into with only their caller left included (the tracker log tells the new agent about the
callee that answered and hung up: see `caller_alone`), and the receiver saw no request twice except those in
flight at a kill: requests it had received whose outbox row was still pending once the agent was dead.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from agent.app import DATABASE_FILE
from agent.devtools.simulator import AmiSimulator
from agent.devtools.trace import trace_events
from tests.reliability.harness import Key, Tally, configure, sink
from tests.reliability.report import Row, record
from tests.reliability.synth import golden, trace_path
from tests.support.agent_runner import Daemon
from tests.support.polling import eventually
from tests.support.receiver import Reply

TRACE = trace_path("13_load_mixed_35_calls")
COMPLETIONS = ("call_answered", "call_unanswered")


def caller_alone(points: list[int]) -> set[str]:
    """Calls restarted into at a moment when only their caller was left (every other party had hung up).

    The resync snapshot shows no callee any more: only the tracker log tells the new agent that a leg was
    offered and answered, so these are the calls whose completion depends on it."""
    hangups: dict[str, dict[str, int]] = {}
    for index, event in enumerate(trace_events(TRACE.read_bytes())):
        headers = event.headers
        if headers.get("Event") == "Hangup" and not headers.get("Channel", "").startswith("Local/"):
            hangups.setdefault(headers["Linkedid"], {})[headers["Uniqueid"]] = index
    alone = set()
    for call, by_channel in hangups.items():
        caller = by_channel.get(call)
        others = [index for uniqueid, index in by_channel.items() if uniqueid != call]
        if caller is not None and others and any(max(others) < point <= caller for point in points):
            alone.add(call)
    return alone


def in_progress(points: list[int]) -> set[str]:
    """Calls with events both before and after some kill point: the restarted agent must carry them on."""
    seen: dict[str, list[int]] = {}
    for index, event in enumerate(trace_events(TRACE.read_bytes())):
        if linkedid := event.headers.get("Linkedid"):
            seen.setdefault(linkedid, []).append(index)
    return {call for call, indexes in seen.items() if any(indexes[0] < point <= indexes[-1] for point in points)}


@dataclass(frozen=True, slots=True)
class KillRun:
    kills: int
    calls: int
    rows: int
    delivered_keys: int
    duplicates: int
    in_flight: int
    adopted: int
    completions: Counter[str]
    undelivered: int
    caller_alone: set[str]
    in_progress: set[str]


def pending_keys(db_path: Path) -> set[Key]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        return {(eid, action) for eid, action in
                db.execute("SELECT event_id, action_name FROM outbox WHERE state = 'pending'")}


def all_rows(db_path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        return list(db.execute("SELECT event_id, action_name, state FROM outbox"))


async def metrics(daemon: Daemon) -> dict[str, float]:
    """The agent's Prometheus counters, summed over their labels."""
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{daemon.api_port}/metrics") as reply:
        text = await reply.text()
    sums: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            base = name.split("{", 1)[0]
            sums[base] = sums.get(base, 0.0) + float(value)
    return sums


async def caught_up(daemon: Daemon, events: int) -> None:
    """Wait until the agent has processed `events` AMI events, committed every system event's rows and written
    its tracker log."""
    async def done() -> bool:
        sums = await metrics(daemon)
        return (sums.get("event_agent_ami_events_total", 0) >= events and
                sums.get("event_agent_system_events_total", 0) == sums.get("event_agent_deliveries_enqueued_total", 0)
                and sums.get("event_agent_tracker_log_pending", 0) == 0)
    await eventually(done, what=f"{events} AMI events processed and their rows committed")


async def start_synced(daemon: Daemon) -> None:
    """Start the agent and wait until it has applied its resync snapshot, before the simulator streams on.

    (Events that reach the tracker before the snapshot can cost a call its completion: see
    test_resync_race.py. This test is about SIGKILL, so it keeps that race out.)"""
    await daemon.start()
    await eventually(lambda: daemon.log_text().count("AMI connected; resync") >= daemon.starts, what="resync")


async def kill_run(tmp_path: Path, kills: int, seed: int) -> KillRun:
    """Replay the trace with `kills` SIGKILLs at random points; return what the receiver and the outbox saw."""
    rng = random.Random(seed)
    simulator = AmiSimulator([TRACE], speed=0)
    simulator.pause_at(0)
    points = sorted(rng.sample(range(50, simulator.event_count - 50), kills))
    await simulator.start()
    async with sink(answer=Reply(delay=0.05)) as rx:
        await configure(tmp_path, rx.port)
        daemon = Daemon(tmp_path, simulator.port, DELIVERY__CONCURRENCY="8")
        try:
            in_flight = await replay_with_kills(daemon, simulator, rx, tmp_path, points, rng)
        finally:
            await daemon.kill()
            await simulator.stop()
    return summarise(rx, tmp_path / DATABASE_FILE, kills, in_flight, points)


async def replay_with_kills(daemon: Daemon, simulator: AmiSimulator, rx: Tally, tmp_path: Path, points: list[int],
                            rng: random.Random) -> int:
    """Step the simulator to each kill point, SIGKILL the agent there, restart it; finish the trace."""
    in_flight, start, total = 0, 0, simulator.event_count
    for point in points:
        await start_synced(daemon)
        simulator.pause_at(point)
        await caught_up(daemon, point - start)
        await asyncio.sleep(rng.uniform(0.0, 0.15))
        await daemon.kill()
        in_flight += await count_in_flight(rx, tmp_path / DATABASE_FILE)
        simulator.drop_clients(resume_at=point)
        start = point
    await start_synced(daemon)
    simulator.pause_at(None)
    await caught_up(daemon, total - start)
    await eventually(lambda: not pending_keys(tmp_path / DATABASE_FILE), what="every row delivered")
    assert await daemon.stop() == 0
    return in_flight


async def count_in_flight(rx: Tally, db_path: Path) -> int:
    """Requests the receiver got whose row is still pending after the kill (they will be sent again)."""
    await asyncio.sleep(0.2)  # requests already in the receiver's socket buffer are read and counted first
    return len(set(rx.counts) & pending_keys(db_path))


def summarise(rx: Tally, db_path: Path, kills: int, in_flight: int, points: list[int]) -> KillRun:
    rows = all_rows(db_path)
    completions = Counter(a.call_id for a in {(a.event_id, a.call_id, a.event): a for a in rx.arrivals
                                              if a.event in COMPLETIONS}.values())
    return KillRun(
        kills=kills, calls=len({g.call_id for g in golden(TRACE)}), rows=len(rows),
        delivered_keys=len({(eid, action) for eid, action, _ in rows} & set(rx.counts)),
        duplicates=rx.duplicates, in_flight=in_flight,
        adopted=len({a.call_id for a in rx.arrivals if a.adopted == "1"}), completions=completions,
        undelivered=len([row for row in rows if row[2] != "delivered"]), caller_alone=caller_alone(points),
        in_progress=in_progress(points),
    )


def check(run: KillRun, name: str) -> None:
    record(Row(name, run.kills, len(run.in_progress), run.rows, run.delivered_keys, run.duplicates,
               figures=f"in flight at the kills: {run.in_flight}",
               note=f"{run.calls} calls, {len(run.in_progress)} in progress at a kill (carried on from the tracker "
                    f"log, {run.adopted} adopted), {len(run.caller_alone)} of them with only the caller left"))
    assert run.undelivered == 0
    assert run.delivered_keys == run.rows
    assert len(run.completions) == run.calls
    assert set(run.completions.values()) == {1}
    assert run.adopted == 0
    assert run.duplicates <= run.in_flight


class TestKill9:
    async def test_sigkill_during_replay(self, tmp_path: Path) -> None:
        """Given the 35-call trace replayed with the agent SIGKILLed at 20 random points (deliveries in flight),
        when it is restarted each time, then every outbox row is delivered, each call completes exactly once,
        and only requests in flight at a kill arrive twice."""
        seed = int(os.environ.get("RELIABILITY_SEED", "20261128"))
        check(await kill_run(tmp_path, 20, seed), "agent SIGKILLed mid-replay")
