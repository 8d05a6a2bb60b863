"""The pump: AMI messages through the real tracker to its sink; its supervision point keeps it going; housekeeping
runs on the injected clock, and its "now" is the AMI clock (docs/call-model.md "One clock"). No test sleeps: the
clock is a `Clock` the test moves, and each step is a message the pump is waited on to process."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from agent.ami.events import AmiEvent, AmiMessage, ConnectionLost, ConnectionUp
from agent.devtools.replay import fixture_config
from agent.devtools.trace import read_events
from agent.ingest.amiclock import AmiClock
from agent.ingest.pump import Pump, describe_call
from agent.ingest.trackerlog import TrackerLog
from agent.mapping.config import MappingConfig
from agent.mapping.tracker import CallTracker
from agent.metrics import Metrics
from agent.settings import DeliverySettings
from agent.store.facade import Store
from agent.store.health import StoreHealth
from agent.store.model import Action
from agent.webhooks.dispatcher import Dispatcher
from agent.webhooks.retry import RetryPolicy
from tests.support.delivery import RecordingSink, system_event
from tests.support.paths import TRACES
from tests.support.tracker import expected_lines, mismatches

TRACE = TRACES / "01_internal_answered_caller_hangup.ami"
DAYS_LATER = 6 * 86400.0  # the wall clock of a simulator replaying the recording six days after it was made
TICK = 0.5  # s: the housekeeping period the tests set (EVENT_AGENT_MAPPING__HOUSEKEEPING_INTERVAL)


class Clock:
    """The injected wall clock, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@asynccontextmanager
async def running(pump: Pump) -> AsyncIterator[Pump]:
    task = asyncio.create_task(pump.run())
    try:
        yield pump
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def step(pump: Pump, queue: asyncio.Queue[AmiMessage], message: AmiMessage) -> None:
    """Put one message and wait until the pump has processed it."""
    queue.put_nowait(message)
    await pump.wait_processed(pump.processed + 1)


def arrived(event: AmiEvent, clock: Clock) -> AmiEvent:
    """`event` as the AMI client hands it over: received now, by the injected clock."""
    return replace(event, received_at=clock())


def call_id(events: list[AmiEvent]) -> str:
    return next(e.get("Linkedid") for e in events if e.get("Linkedid"))


def call_start(events: list[AmiEvent]) -> float:
    """The time of the call's first event (its caller's Newchannel): where its duration starts."""
    return next(e.time for e in events if e.get("Linkedid"))


def half_up(seconds: float) -> int:
    return int(seconds + 0.5)


def quiet(clock: Clock) -> AmiEvent:
    """An event that changes no call (it only carries time), received now."""
    return AmiEvent(headers={"Event": "PeerStatus"}, received_at=clock())


async def bound_store(path: Path) -> Store:
    store = await Store.open(path)
    action = await store.create_action(Action(name="a", method="GET", url="http://127.0.0.1:9/x"))
    for key in ("call_incoming", "ringing", "call_answered"):
        await store.update_event(key, active=True, action_ids=[action.id or 0])
    await store.set_actions_enabled(True)
    return store


def delivery_pump(store: Store, metrics: Metrics, submitted: list[int]) -> tuple[Pump, asyncio.Queue[AmiMessage]]:
    """A pump whose sink is delivery's dispatcher on `store`; submitted row ids are recorded."""
    dispatcher = Dispatcher(store, RetryPolicy.from_settings(DeliverySettings()),
                            lambda rows: submitted.extend(r.id for r in rows), metrics, Clock(1_800_000_000.0))
    queue: asyncio.Queue[AmiMessage] = asyncio.Queue()
    return Pump(queue, CallTracker(MappingConfig()), dispatcher, metrics, Clock(1_800_000_000.0)), queue


class TestPump:
    async def test_events_reach_outbox(self, tmp_path: Path) -> None:
        """Given a bound action, when a trace goes through the pump, then its three events are enqueued, and
        delivery counts them (the enqueued metric lives where the rows are written)."""
        store = await bound_store(tmp_path / "a.db")
        metrics, submitted = Metrics(), []
        pump, queue = delivery_pump(store, metrics, submitted)
        events = read_events(TRACE)
        for message in [ConnectionUp(1.0, 1.0, ()), *events, ConnectionLost(2.0, "test")]:
            queue.put_nowait(message)
        async with running(pump):
            await pump.wait_processed(len(events) + 2)
        await store.close()
        assert len(submitted) == 3
        assert metrics.system_events.snapshot() == {"call_incoming": 1, "ringing": 1, "call_answered": 1}
        assert metrics.enqueued.snapshot() == {"call_incoming": 1, "ringing": 1, "call_answered": 1}
        assert (metrics.ami_events.value(), metrics.pump_errors.value()) == (len(events), 0)

    async def test_supervision(self, tmp_path: Path) -> None:
        """Given a store that fails (closed), when events flow, then failures are counted and the pump goes on."""
        store = await bound_store(tmp_path / "a.db")
        metrics = Metrics()
        pump, queue = delivery_pump(store, metrics, [])
        await store.close()
        events = read_events(TRACE)
        for message in events:
            queue.put_nowait(message)
        async with running(pump):
            await pump.wait_processed(len(events))
        assert metrics.pump_errors.value() >= 1
        assert sum(metrics.system_events.snapshot().values()) == 3

    def test_call_line(self) -> None:
        """Given a completion event, when described, then one line with its shape and no empty fields."""
        event = system_event("call_answered", "17.1", direction="inbound", duration="5", trunk="", extension="201")
        assert describe_call(event) == "call 17.1 call_answered direction=inbound duration=5 extension=201"


class TestAmiClock:
    def test_wall_clock_before_any_event(self) -> None:
        """Given no AMI event seen yet, then now is the wall clock."""
        assert AmiClock(Clock(500.0)).now() == 500.0

    def test_latest_event_plus_elapsed_wall_time(self) -> None:
        """Given an event stamped 100.0 that arrived at wall 5000.0, when the wall clock reads 5007.5, then now is
        107.5 on the AMI clock, and a wall moment (a link loss at 5003.0) is 103.0 on it."""
        wall = Clock(5000.0)
        clock = AmiClock(wall)
        clock.seen(AmiEvent(headers={"Event": "Newstate", "Timestamp": "100.000000"}, received_at=5000.0))
        wall.advance(7.5)
        assert (clock.now(), clock.at(5003.0)) == (107.5, 103.0)

    def test_unstamped_stream_is_its_receive_time(self) -> None:
        """Given a PBX that stamps no event, then now is the receive time of the latest plus the time since."""
        wall = Clock(5000.0)
        clock = AmiClock(wall)
        clock.seen(AmiEvent(headers={"Event": "Newstate"}, received_at=4990.0))
        assert clock.now() == 5000.0

    def test_unstamped_event_does_not_move_a_stamped_clock(self) -> None:
        """Given stamped events, when one without a Timestamp arrives (FullyBooted at a login), then the clock
        stays on the stamped one."""
        clock = AmiClock(Clock(5000.0))
        clock.seen(AmiEvent(headers={"Event": "Newstate", "Timestamp": "100.0"}, received_at=5000.0))
        clock.seen(AmiEvent(headers={"Event": "FullyBooted"}, received_at=5000.0))
        assert clock.now() == 100.0


class TestHousekeeping:
    async def test_runs_when_the_injected_clock_says(self) -> None:
        """Given a 60 s period, when the clock moves 59 s, then the next message is processed without housekeeping;
        when it moves 2 s more, then housekeeping runs before the next message is processed."""
        clock = Clock(1_000.0)
        queue: asyncio.Queue[AmiMessage] = asyncio.Queue()
        pump = Pump(queue, CallTracker(MappingConfig()), RecordingSink(), Metrics(), clock, housekeeping_every=60.0)
        async with running(pump):
            clock.advance(59.0)
            await step(pump, queue, quiet(clock))
            early = pump.housekeepings
            clock.advance(2.0)
            await step(pump, queue, quiet(clock))
        assert (early, pump.housekeepings) == (0, 1)

    async def test_stuck_call_expires_on_the_ami_clock(self) -> None:
        """Given a call ringing in a recording from six days ago (stuck-call timeout 30 s) and the wall clock of
        today, when 20 s pass, then housekeeping leaves it alone; when 20 s more pass without its hangup, then it
        is expired at its last event's time plus the 40 s elapsed: its duration counts AMI seconds, not days."""
        events = read_events(TRACE)
        ringing = next(n for n, e in enumerate(events) if e.name == "DialState") + 1
        clock, sink = Clock(events[-1].time + DAYS_LATER), RecordingSink()
        queue: asyncio.Queue[AmiMessage] = asyncio.Queue()
        pump = Pump(queue, CallTracker(MappingConfig(stuck_call_seconds=30.0)), sink, Metrics(), clock,
                    housekeeping_every=TICK)
        async with running(pump):
            for event in events[:ringing]:
                await step(pump, queue, arrived(event, clock))
            before = len(sink.events)
            clock.advance(20.0)
            await step(pump, queue, quiet(clock))
            first_tick = (pump.housekeepings, sink.events[before:])
            clock.advance(20.0)
            await step(pump, queue, quiet(clock))
        expired = sink.events[-1]
        assert first_tick == (1, [])
        assert (pump.housekeepings, expired.name, {e.call_id for e in sink.events[before:]}) == (
            2, "call_unanswered", {call_id(events)})
        assert expired.params["duration"] == str(half_up(events[ringing - 1].time + 40.0 - call_start(events)))

    async def test_link_loss_on_the_ami_clock(self) -> None:
        """Given a call up in an old recording when the link drops 5 s (wall) after its last event, and a resync
        whose snapshot no longer lists it, then it completes reconciled, ended at the loss on the AMI clock."""
        async with answered_late() as late:
            await late.step(ConnectionLost(at=late.clock() + 5.0, reason="test"))
            await late.step(ConnectionUp(at=late.clock() + 9.0, resync_at=late.answer + 9.0, channels=()))
        final = late.sink.events[-1]
        assert (final.name, final.params["reconciled"]) == ("call_answered", "1")
        assert final.params["duration"] == str(half_up(late.answer + 5.0 - late.start))

    async def test_unstamped_resync_on_the_ami_clock(self) -> None:
        """Given a call up in an old recording and a new login whose snapshot no longer lists it, when the resync
        moment is a receive time (no event before the answer carried a Timestamp), then it is taken on the AMI
        clock: the call ends 9 s after its last event, not six days later."""
        async with answered_late() as late:
            late.clock.advance(9.0)
            await late.step(ConnectionUp(at=late.clock(), resync_at=late.clock(), channels=(), stamped=False))
        final = late.sink.events[-1]
        assert (final.name, final.params["reconciled"]) == ("call_answered", "1")
        assert final.params["duration"] == str(half_up(late.answer + 9.0 - late.start))


@dataclass(frozen=True)
class Late:
    """Trace 01 streamed six days after it was recorded, up to 202's answer: what the test needs to go on."""

    pump: Pump
    queue: asyncio.Queue[AmiMessage]
    clock: Clock
    sink: RecordingSink
    start: float  # the call's first event (AMI clock)
    answer: float  # the DialEnd ANSWER, the last event streamed

    async def step(self, message: AmiMessage) -> None:
        await step(self.pump, self.queue, message)


@asynccontextmanager
async def answered_late() -> AsyncIterator[Late]:
    events = read_events(TRACE)
    answered = next(n for n, e in enumerate(events) if e.name == "DialEnd") + 1
    clock = Clock(events[-1].time + DAYS_LATER)
    queue: asyncio.Queue[AmiMessage] = asyncio.Queue()
    sink = RecordingSink()
    pump = Pump(queue, CallTracker(MappingConfig()), sink, Metrics(), clock)
    late = Late(pump, queue, clock, sink, call_start(events), events[answered - 1].time)
    async with running(pump):
        for event in events[:answered]:
            await late.step(arrived(event, clock))
        yield late


def golden_events(trace: Path) -> list[tuple[str, str]]:
    return [(line["event"], line["params"].get("extension", "")) for line in expected_lines(trace)]


def ticking_gaps(events: Iterable[AmiEvent]) -> int:
    """How many gaps between stamped events are at least one housekeeping period long."""
    stamps = [e.time for e in events if e.timestamp is not None]
    return sum(1 for a, b in itertools.pairwise(stamps) if b - a >= TICK)


class TestOneClock:
    @pytest.mark.parametrize("name", ["01_internal_answered_caller_hangup", "04_internal_busy_486",
                                      "07_inbound_trunk_answered", "13_load_mixed_35_calls"])
    async def test_old_recording_replays_to_its_golden(self, name: str) -> None:
        """Given a recording whose Timestamps are six days old, streamed as the simulator does (the wall clock
        moving by the recorded gaps, each event received now) with housekeeping every 0.5 s, when the calls are
        in progress at several ticks, then the pump emits exactly the golden events: durations and dates from
        the trace, no call expired early (the wall clock would say every call started six days ago)."""
        trace = TRACES / f"{name}.ami"
        events = read_events(trace)
        clock, sink = Clock(events[-1].time + DAYS_LATER), RecordingSink()
        queue: asyncio.Queue[AmiMessage] = asyncio.Queue()
        pump = Pump(queue, CallTracker(fixture_config(trace)), sink, Metrics(), clock, housekeeping_every=TICK)
        previous: AmiEvent | None = None
        async with running(pump):
            for event in events:
                if previous is not None and previous.timestamp is not None:
                    clock.advance(max(0.0, event.time - previous.time))
                await step(pump, queue, arrived(event, clock))
                previous = event
        assert pump.housekeepings >= min(3, ticking_gaps(events)) > 0
        assert [(e.name, e.params["extension"]) for e in sink.events] == golden_events(trace)
        problems = [f"line {n + 1} ({line['event']}): {wrong}"
                    for n, (line, event) in enumerate(zip(expected_lines(trace), sink.events, strict=True))
                    if (wrong := mismatches(line["params"], dict(event.params)))]
        assert problems == []


class TestTrackerLog:
    async def test_pump_logs_open_calls_and_prunes_the_rest(self, tmp_path: Path) -> None:
        """Given a pump with a tracker log, when the first half of a call goes through, plus an event of a call the
        tracker never follows, then after a housekeeping tick only the open call's frames are in the log; when
        the call ends, its frames are gone too."""
        store = await Store.open(tmp_path / "a.db")
        log = TrackerLog(store, StoreHealth(lambda: 0.0))
        queue: asyncio.Queue[AmiMessage] = asyncio.Queue()
        events = read_events(TRACE)
        clock = Clock(events[-1].time + DAYS_LATER)
        pump = Pump(queue, CallTracker(MappingConfig()), RecordingSink(), Metrics(), clock, housekeeping_every=TICK,
                    tracker_log=log)
        half = len(events) // 2
        stray = AmiEvent(headers={"Event": "Newexten", "Application": "Dial", "Uniqueid": "9.9", "Linkedid": "9.9"},
                         received_at=clock())
        try:
            async with running(pump):
                for message in [*events[:half], stray]:
                    await step(pump, queue, arrived(message, clock))
                await log.wait_written()
                clock.advance(TICK)
                await step(pump, queue, quiet(clock))  # housekeeping first: Keep(open calls)
                await log.wait_written()
                kept = {tag for tag, _, _ in await store.tracker_log()}
                for message in events[half:]:
                    await step(pump, queue, arrived(message, clock))
                await log.wait_written()
                left = await store.tracker_log()
        finally:
            await log.close_writer(1.0)
            await store.close()
        assert (pump.housekeepings, kept, left) == (1, {call_id(events)}, [])
