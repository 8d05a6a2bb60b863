"""The pump: AMI messages through the real tracker to the dispatcher; its supervision point keeps it going."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from agent.ami.events import AmiEvent, AmiMessage, ConnectionLost, ConnectionUp
from agent.devtools.trace import read_events
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
from tests.delivery_support import system_event

TRACE = Path(__file__).parent / "fixtures/ami_traces/01_internal_answered_caller_hangup.ami"


async def _pump(store: Store, metrics: Metrics) -> tuple[Pump, asyncio.Queue[AmiMessage], list[int]]:
    submitted: list[int] = []
    dispatcher = Dispatcher(store, RetryPolicy.from_settings(DeliverySettings()),
                            lambda rows: submitted.extend(r.id for r in rows), time.time)
    queue: asyncio.Queue[AmiMessage] = asyncio.Queue()
    pump = Pump(queue, CallTracker(MappingConfig()), dispatcher.dispatch, metrics, time.time)
    return pump, queue, submitted


class TestPump:
    async def test_events_reach_outbox(self, tmp_path: Path) -> None:
        """Given a bound action, when a trace goes through the pump, then its three events are enqueued."""
        store = await Store.open(tmp_path / "a.db")
        action = await store.create_action(Action(
            name="a", method="GET", url="http://127.0.0.1:9/x"))
        for key in ("call_incoming", "ringing", "call_answered"):
            await store.update_event(key, active=True, action_ids=[action.id or 0])
        await store.set_actions_enabled(True)
        metrics = Metrics()
        pump, queue, submitted = await _pump(store, metrics)
        events = read_events(TRACE)
        messages: list[AmiMessage] = [ConnectionUp(1.0, 1.0, ()), *events, ConnectionLost(2.0, "test")]
        for message in messages:
            queue.put_nowait(message)
        task = asyncio.create_task(pump.run())
        await pump.wait_processed(len(events) + 2)
        task.cancel()
        await store.close()
        assert len(submitted) == 3
        assert metrics.system_events.snapshot() == {"call_incoming": 1, "ringing": 1, "call_answered": 1}
        assert (metrics.ami_events.value(), metrics.pump_errors.value()) == (len(events), 0)

    async def test_supervision(self, tmp_path: Path) -> None:
        """Given a store that fails (closed), when events flow, then failures are counted and the pump goes on."""
        store = await Store.open(tmp_path / "a.db")
        await store.set_actions_enabled(True)
        metrics = Metrics()
        pump, queue, _ = await _pump(store, metrics)
        await store.close()
        events = read_events(TRACE)
        for message in events:
            queue.put_nowait(message)
        task = asyncio.create_task(pump.run())
        await pump.wait_processed(len(events))
        assert not task.done()
        task.cancel()
        assert metrics.pump_errors.value() >= 1
        assert sum(metrics.system_events.snapshot().values()) == 3

    def test_call_line(self) -> None:
        """Given a completion event, when described, then one line with its shape and no empty fields."""
        event = system_event("call_answered", "17.1", direction="inbound", duration="5", trunk="", extension="201")
        assert describe_call(event) == "call 17.1 call_answered direction=inbound duration=5 extension=201"


class TestTrackerLog:
    async def test_pump_logs_open_calls_and_prunes_the_rest(self, tmp_path: Path) -> None:
        """Given a pump with a tracker log, when the first half of a call goes through, plus an event of a call the
        tracker never follows, then after the periodic expiry only the open call's frames are in the log; when
        the call ends, its frames are gone too."""
        store = await Store.open(tmp_path / "a.db")
        log = TrackerLog(store, StoreHealth(time.time))
        queue: asyncio.Queue[AmiMessage] = asyncio.Queue()
        events = read_events(TRACE)
        moment, began = events[-1].time, time.monotonic()  # the pump's clock runs from the trace's last event,
        clock = lambda: moment + time.monotonic() - began  # noqa: E731 (so the call is not old enough to expire)
        pump = Pump(queue, CallTracker(MappingConfig()), lambda events: asyncio.sleep(0), Metrics(), clock,
                    expire_every=0.05, tracker_log=log)
        half = len(events) // 2
        stray = AmiEvent(headers={"Event": "Newexten", "Application": "Dial", "Uniqueid": "9.9", "Linkedid": "9.9"},
                         received_at=1.0)
        task = asyncio.create_task(pump.run())
        try:
            for message in [*events[:half], stray]:
                queue.put_nowait(message)
            await pump.wait_processed(half + 1)
            await asyncio.sleep(0.2)  # at least one expiry tick: Keep(open calls)
            await log.wait_written()
            call_id = next(e.get("Linkedid") for e in events if e.get("Linkedid"))
            assert {tag for tag, _, _ in await store.tracker_log()} == {call_id}
            for message in events[half:]:
                queue.put_nowait(message)
            await pump.wait_processed(len(events) + 1)
            await log.wait_written()
            assert await store.tracker_log() == []
        finally:
            task.cancel()
            await log.close_writer(1.0)
            await store.close()
