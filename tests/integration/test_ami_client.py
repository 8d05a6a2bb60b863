"""The AMI client against the simulator on loopback: same events as offline replay, reconnect and resync,
half-open detection, split UTF-8, malformed frames, consumer failures, login failures."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from agent.ami.client import AmiClient, reconnect_delay
from agent.ami.events import AmiEvent, AmiMessage, ConnectionLost, ConnectionUp
from agent.devtools.replay import as_line, fixture_config, replay
from agent.devtools.simulator import AmiSimulator
from agent.devtools.trace import trace_events
from agent.mapping.tracker import CallTracker
from tests.support.ami import event_frame, is_lost, is_up, pump, running_link
from tests.support.paths import TRACES
from tests.support.polling import WAIT, eventually
from tests.support.settings import ami_settings

TRACE_01 = TRACES / "01_internal_answered_caller_hangup.ami"
TRACE_13 = TRACES / "13_load_mixed_35_calls.ami"
GOLDEN = ["01_internal_answered_caller_hangup", "07_inbound_trunk_answered", "09_inbound_ringgroup_203_answers",
          "10_inbound_queue_204_answers", "13_load_mixed_35_calls"]  # fmt: skip


class TestEndToEnd:
    @pytest.mark.parametrize("name", GOLDEN)
    async def test_same_as_replay(self, name: str) -> None:
        """Given a trace served on loopback, when the client reads it into a tracker, then the system events equal
        offline replay's, line for line."""
        trace = TRACES / f"{name}.ami"
        simulator = AmiSimulator([trace])
        async with running_link(simulator) as link:
            await link.events(simulator.event_count)
            await link.up()
            assert sum(map(is_up, link.received)) == 1
        live = pump(CallTracker(fixture_config(trace)), link.received)
        assert [as_line(event) for event in live] == [as_line(event) for event in replay(trace, fixture_config(trace))]


def live_uniqueids(trace: Path, before: int) -> set[str]:
    """Channels created and not hung up before event `before`, read straight from Newchannel/Hangup."""
    live: set[str] = set()
    for event in trace_events(trace.read_bytes())[:before]:
        if event.headers["Event"] == "Newchannel":
            live.add(event.headers["Uniqueid"])
        elif event.headers["Event"] == "Hangup":
            live.discard(event.headers["Uniqueid"])
    return live


class TestReconnect:
    # Trace 13, by reading it: calls ...177.73 and ...178.77 end before event 300; ...178.75, ...181.87 and
    # ...181.89 are up at 300 and gone by 560; calls from ...184.105 on start after 560.
    DROP_AT, RESUME_AT = 300, 560
    VANISHED = ("1795872178.75", "1795872181.87", "1795872181.89")
    BEFORE = ("1795872177.73", "1795872178.77")

    async def test_drop_mid_call(self) -> None:
        """Given the server dropping the link at event 300 and the agent back at 560, then ConnectionLost and a
        ConnectionUp with the channels live at 560 arrive; calls that vanished meanwhile complete with reconciled=1;
        calls wholly before or after the gap get exactly replay's events, and no event is emitted twice."""
        events = trace_events(TRACE_13.read_bytes())
        stamp = events[self.RESUME_AT - 1].timestamp
        assert stamp is not None
        simulator = AmiSimulator([TRACE_13])
        simulator.pause_at(self.DROP_AT)
        async with running_link(simulator, clock=lambda: stamp) as link:
            await link.events(self.DROP_AT)
            await link.up()
            simulator.pause_at(self.RESUME_AT)
            simulator.drop_clients(resume_at=self.RESUME_AT)
            await link.until(is_lost)
            up = await link.until(is_up)
            simulator.pause_at(None)
            await link.events(len(events) - self.RESUME_AT)
            assert link.client.reconnects == 1
        assert isinstance(up, ConnectionUp)
        assert {channel["Uniqueid"] for channel in up.channels} == live_uniqueids(TRACE_13, self.RESUME_AT)
        assert up.resync_at == stamp
        config = fixture_config(TRACE_13)
        live = pump(CallTracker(config), link.received)
        offline = replay(TRACE_13, config)
        assert len({event.event_id for event in live}) == len(live)
        for call_id in self.VANISHED:
            finals = [e for e in live if e.call_id == call_id and e.name in ("call_answered", "call_unanswered")]
            assert [event.params["reconciled"] for event in finals] == ["1"], call_id
        untouched = set(self.BEFORE) | {e.call_id for e in offline if float(e.call_id) >= 1795872184.105}
        for call_id in untouched:
            assert [as_line(e) for e in live if e.call_id == call_id] == [
                as_line(e) for e in offline if e.call_id == call_id
            ], call_id


class TestResync:
    async def test_snapshot_between_events(self) -> None:
        """Given the stream held at event 6 of trace 01 (201 dialing), when the client resyncs, then ConnectionUp
        follows exactly those 6 events, lists 201's channel, and its resync moment is event 5's Timestamp."""
        events = trace_events(TRACE_01.read_bytes())
        simulator = AmiSimulator([TRACE_01])
        simulator.pause_at(6)
        async with running_link(simulator) as link:
            up = await link.until(is_up)
            simulator.pause_at(None)
            await link.events(len(events) - 6)
        assert isinstance(up, ConnectionUp)
        assert [type(message).__name__ for message in link.received[:7]] == ["AmiEvent"] * 6 + ["ConnectionUp"]
        assert [channel["Channel"] for channel in up.channels] == ["PJSIP/201-00000022"]
        assert up.resync_at == events[5].timestamp
        assert "ActionID" not in up.channels[0]


class TestResyncRefused:
    HELD_AT = 40  # trace 01, by reading it: 202 answered at event 33, the first Hangup is event 66

    async def test_calls_in_progress_kept(self, caplog: pytest.LogCaptureFixture) -> None:
        """Given a user whose CoreShowChannels is refused and the link dropped mid-call with nothing missed, when
        the client logs in again, then ConnectionUp carries no snapshot (None, not an empty one), the pump leaves
        the answered call in progress instead of completing it as reconciled, warns once per connection, and the
        system events equal offline replay's."""
        simulator = AmiSimulator([TRACE_01], refuse=["CoreShowChannels"])
        simulator.pause_at(self.HELD_AT)
        async with running_link(simulator) as link:
            await link.events(self.HELD_AT)
            await link.up()
            simulator.drop_clients(resume_at=self.HELD_AT)
            await link.until(is_lost)
            await link.until(is_up)
            simulator.pause_at(None)
            await link.events(simulator.event_count - self.HELD_AT)
        ups = [index for index, message in enumerate(link.received) if is_up(message)]
        assert [link.received[index].channels for index in ups] == [None, None]  # type: ignore[union-attr]
        config = fixture_config(TRACE_01)
        tracker = CallTracker(config)
        with caplog.at_level(logging.WARNING, logger="agent.ingest.pump"):
            before = pump(tracker, link.received[: ups[1] + 1])
            assert tracker.calls_in_progress == 1
            after = pump(tracker, link.received[ups[1] + 1 :])
        assert [event.name for event in before] == ["call_incoming", "ringing"]
        assert [as_line(e) for e in before + after] == [as_line(e) for e in replay(TRACE_01, config)]
        assert after[-1].params["reconciled"] == ""
        warned = [r for r in caplog.records if "without a CoreShowChannels snapshot" in r.getMessage()]
        assert len(warned) == len(ups)


class TestWatchdog:
    async def test_half_open_detected(self) -> None:
        """Given a server that stops reading and writing (half-open), when pings go unanswered, then the client
        aborts, reports ConnectionLost, and logs in again once the server answers."""
        simulator = AmiSimulator([TRACE_01])
        async with running_link(simulator, ping_interval=0.2, connect_timeout=0.5) as link:
            await link.events(simulator.event_count)
            simulator.stall()
            lost = await link.until(is_lost)
            simulator.resume()
            await link.until(is_up)
            assert link.client.connected
        assert isinstance(lost, ConnectionLost)
        assert "Ping" in lost.reason


class TestIngestion:
    async def test_utf8_split_across_reads(self) -> None:
        """Given `Jürgen Müller` written in two TCP writes split inside the ü byte pair, then it arrives whole."""
        simulator = AmiSimulator([])
        async with running_link(simulator) as link:
            await link.until(is_up)
            frame = event_frame("Newchannel", CallerIDName="Jürgen Müller", Uniqueid="1.1", Linkedid="1.1")
            cut = frame.index("ü".encode()) + 1
            simulator.inject(frame[:cut])
            await asyncio.sleep(0.05)
            simulator.inject(frame[cut:])
            (event,) = await link.events(1)
        assert event.get("CallerIDName") == "Jürgen Müller"

    async def test_malformed_frames_skipped(self) -> None:
        """Given a line without colon, binary junk and a 100 kB header between events, then the three are counted
        as malformed and the events around them all arrive, in order."""
        simulator = AmiSimulator([])
        async with running_link(simulator) as link:
            await link.until(is_up)
            junk = [b"no colon at all\r\n\r\n", b"\x00\xff\xfe\x80\x01\r\n\r\n", event_frame("Big", Data="x" * 100_000)]
            for number, bad in enumerate(junk):
                simulator.inject(event_frame("UserEvent", N=str(number)) + bad)
            simulator.inject(event_frame("UserEvent", N="3"))
            events = await link.events(4)
            assert [event.get("N") for event in events] == ["0", "1", "2", "3"]
            assert link.client.malformed_frames == 3
            assert link.client.reconnects == 0

    async def test_consumer_failure_keeps_link(self) -> None:
        """Given a consumer that raises on the first event it reads, then the link stays up and later events queue."""
        simulator = AmiSimulator([])
        async with running_link(simulator) as link:
            await link.until(is_up)

            async def consumer() -> None:
                message = await link.queue.get()
                raise RuntimeError(f"consumer bug on {message}")

            task = asyncio.create_task(consumer())
            simulator.inject(event_frame("UserEvent", N="0"))
            with pytest.raises(RuntimeError):
                await asyncio.wait_for(task, WAIT)
            simulator.inject(event_frame("UserEvent", N="1") + event_frame("UserEvent", N="2"))
            events = await link.events(2)
            assert [event.get("N") for event in events] == ["1", "2"]
            assert link.client.connected
            assert link.client.reconnects == 0

    async def test_counters(self) -> None:
        """Given a trace streamed, then the client counts its events and remembers the last receive time."""
        before = time.time()
        simulator = AmiSimulator([TRACE_01])
        async with running_link(simulator) as link:
            await link.events(simulator.event_count)
            status = link.client.status()
        assert status.events == simulator.event_count
        assert status.last_event_at is not None
        assert status.last_event_at >= before
        assert status.connected


class TestLogin:
    async def test_wrong_secret_retries(self) -> None:
        """Given a wrong secret, then no ConnectionUp, failed attempts keep growing with backoff, and the error
        names the refusal but never the secret."""
        simulator = AmiSimulator([TRACE_01], username="event-agent", secret="right")
        async with running_link(simulator, secret="wrong-secret-xyz") as link:
            await eventually(lambda: link.client.status().failed_attempts >= 2, what="two failed logins")
            status = link.client.status()
        assert status.failed_attempts >= 2
        assert link.queue.empty()
        assert not status.connected
        assert "Authentication failed" in status.last_error
        assert "wrong-secret-xyz" not in status.last_error

    async def test_close_while_unreachable(self) -> None:
        """Given nothing listening, when the client is closed during its backoff, then run() returns."""
        simulator = AmiSimulator([])
        port = await simulator.start()
        await simulator.stop()
        queue: asyncio.Queue[AmiMessage] = asyncio.Queue()
        client = AmiClient(ami_settings(port, reconnect_min=5.0, reconnect_max=5.0), queue, time.time)
        task = asyncio.create_task(client.run())
        await eventually(lambda: client.status().failed_attempts > 0, what="a failed connection")
        await client.close()
        await asyncio.wait_for(task, WAIT)
        assert client.status().failed_attempts == 1
        assert "cannot connect" in client.status().last_error

    async def test_close_logs_off(self) -> None:
        """Given a connected client, when closed, then run() returns and no ConnectionLost is queued."""
        simulator = AmiSimulator([])
        async with running_link(simulator) as link:
            await link.until(is_up)
        assert not link.client.connected
        assert not any(isinstance(message, ConnectionLost) for message in link.received)
        assert link.queue.empty()


class TestBackoff:
    @pytest.mark.parametrize(
        ("failures", "expected"), [(0, 0.5), (1, 1.0), (2, 2.0), (5, 16.0), (6, 30.0), (1000, 30.0)]
    )
    def test_capped_exponential(self, failures: int, expected: float) -> None:
        """Given reconnect_min 0.5 and max 30, when n attempts failed in a row, then the delay doubles up to 30."""
        assert reconnect_delay(failures, 0.5, 30.0) == expected


def test_no_panoramisk_type_leaves() -> None:
    """Given the client's queue messages, then they are our own event types only."""
    assert {AmiEvent.__module__, ConnectionLost.__module__, ConnectionUp.__module__} == {"agent.ami.events"}
