"""The AMI trace simulator, seen from a plain socket client: login, actions, streaming, snapshot, test hooks."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.ami.wire import FrameDecoder
from agent.devtools.simulator import AmiSimulator
from tests.support.paths import TRACES
from tests.support.polling import WAIT

TRACE_01 = TRACES / "01_internal_answered_caller_hangup.ami"
SAMPLE = TRACES.parent / "coreshowchannels_response_sample.txt"


def recorded_events(trace: Path) -> list[bytes]:
    """The event frames of a trace file, read straight from its bytes."""
    return [chunk.strip(b"\r\n") for chunk in trace.read_bytes().split(b"\r\n\r\n") if chunk.startswith(b"Event:")]


class Peer:
    """A bare AMI client: writes actions, reads frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder()
        self.frames: list[dict[str, str]] = []
        self.raw = b""

    @classmethod
    async def connect(cls, simulator: AmiSimulator) -> Peer:
        reader, writer = await asyncio.open_connection("127.0.0.1", simulator.port)
        return cls(reader, writer)

    def send(self, **headers: str) -> None:
        self.writer.write("".join(f"{key}: {value}\r\n" for key, value in headers.items()).encode() + b"\r\n")

    async def frame(self) -> dict[str, str]:
        while not self.frames:
            data = await asyncio.wait_for(self.reader.read(65536), WAIT)
            if not data:
                raise ConnectionError("closed")
            self.raw += data
            self.frames += [dict(pairs) for pairs in self.decoder.feed(data)]
        return self.frames.pop(0)

    async def answer(self, action_id: str) -> dict[str, str]:
        while (frame := await self.frame()).get("ActionID") != action_id:
            pass
        return frame

    async def login(self, username: str = "agent", secret: str = "pw") -> dict[str, str]:
        self.send(Action="Login", ActionID="l1", Username=username, Secret=secret)
        return await self.answer("l1")

    async def events(self, count: int) -> list[dict[str, str]]:
        return [frame for frame in [await self.frame() for _ in range(count)] if "Event" in frame]

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def simulator() -> AsyncIterator[AmiSimulator]:
    sim = AmiSimulator([TRACE_01], username="agent", secret="pw")
    sim.pause_at(0)
    await sim.start()
    yield sim
    await sim.stop()


class TestActions:
    async def test_banner_and_login(self, simulator: AmiSimulator) -> None:
        """Given a simulator, when a client logs in with the right secret, then it gets the banner and Success."""
        peer = await Peer.connect(simulator)
        answer = await peer.login()
        assert peer.decoder.banner is not None
        assert peer.decoder.banner.startswith("Asterisk Call Manager/")
        assert (answer["Response"], answer["Message"]) == ("Success", "Authentication accepted")
        assert simulator.logins == 1
        peer.close()

    async def test_wrong_secret(self, simulator: AmiSimulator) -> None:
        """Given a wrong secret, when logging in, then Error / Authentication failed and the server closes."""
        peer = await Peer.connect(simulator)
        answer = await peer.login(secret="nope")
        assert (answer["Response"], answer["Message"]) == ("Error", "Authentication failed")
        assert await asyncio.wait_for(peer.reader.read(), WAIT) == b""
        assert simulator.logins == 0
        peer.close()

    async def test_action_before_login(self, simulator: AmiSimulator) -> None:
        """Given no login yet, when a Ping arrives, then it is refused."""
        peer = await Peer.connect(simulator)
        peer.send(Action="Ping", ActionID="p0")
        assert (await peer.answer("p0"))["Message"] == "Authentication Required"
        peer.close()

    async def test_ping(self, simulator: AmiSimulator) -> None:
        """Given a logged-in client, when it pings, then Success / Pong with a Timestamp."""
        peer = await Peer.connect(simulator)
        await peer.login()
        peer.send(Action="Ping", ActionID="p1")
        answer = await peer.answer("p1")
        assert (answer["Response"], answer["Ping"]) == ("Success", "Pong")
        assert re.fullmatch(r"\d+\.\d{6}", answer["Timestamp"])
        peer.close()

    async def test_logoff_and_unknown(self, simulator: AmiSimulator) -> None:
        """Given a logged-in client, when it sends an unknown action then Logoff, then Error, Goodbye, close."""
        peer = await Peer.connect(simulator)
        await peer.login()
        peer.send(Action="Frobnicate", ActionID="u1")
        assert (await peer.answer("u1"))["Response"] == "Error"
        peer.send(Action="Logoff", ActionID="o1")
        assert (await peer.answer("o1"))["Response"] == "Goodbye"
        assert await asyncio.wait_for(peer.reader.read(), WAIT) == b""
        peer.close()


class TestStreaming:
    async def test_streams_recorded_events(self) -> None:
        """Given trace 01, when a client logs in, then it gets exactly the trace's event frames, byte for byte."""
        expected = recorded_events(TRACE_01)
        sim = AmiSimulator([TRACE_01])
        await sim.start()
        peer = await Peer.connect(sim)
        await peer.login()
        await peer.events(len(expected))
        body = peer.raw.split(b"Message: Authentication accepted\r\n\r\n", 1)[1]
        assert body == b"".join(frame + b"\r\n\r\n" for frame in expected)
        assert sim.event_count == len(expected)
        peer.close()
        await sim.stop()

    async def test_recorded_gaps_scaled(self) -> None:
        """Given speed=1000 (trace 01 spans ~8 s, so ~8 ms), when streamed, then every event still arrives in order."""
        expected = recorded_events(TRACE_01)
        sim = AmiSimulator([TRACE_01], speed=1000.0)
        await sim.start()
        peer = await Peer.connect(sim)
        await peer.login()
        events = await peer.events(len(expected))
        assert [event["Event"] for event in events] == [frame.split(b"\r\n", 1)[0][7:].decode() for frame in expected]
        peer.close()
        await sim.stop()

    async def test_several_traces(self) -> None:
        """Given two traces recorded at different times and speed=1000, then the second follows the first, whole."""
        second = TRACE_01.with_name("03_internal_no_answer_timeout.ami")
        expected = recorded_events(TRACE_01) + recorded_events(second)
        sim = AmiSimulator([TRACE_01, second], speed=1000.0)
        await sim.start()
        peer = await Peer.connect(sim)
        await peer.login()
        events = await peer.events(len(expected))
        assert [event.get("Timestamp") for event in events] == [
            dict(line.split(": ", 1) for line in frame.decode().split("\r\n")).get("Timestamp") for frame in expected
        ]
        peer.close()
        await sim.stop()

    async def test_without_timestamps(self) -> None:
        """Given timestamps=False, when streamed, then no event carries a Timestamp header."""
        sim = AmiSimulator([TRACE_01], timestamps=False)
        await sim.start()
        peer = await Peer.connect(sim)
        await peer.login()
        events = await peer.events(len(recorded_events(TRACE_01)))
        assert events
        assert all("Timestamp" not in event for event in events)
        peer.close()
        await sim.stop()

    async def test_read_classes(self) -> None:
        """Given read_classes={"call"}, when streamed, then only call-class events arrive (no VarSet/Newexten)."""
        expected = [frame for frame in recorded_events(TRACE_01) if b"\r\nPrivilege: call," in frame]
        sim = AmiSimulator([TRACE_01], read_classes={"call"})
        await sim.start()
        peer = await Peer.connect(sim)
        await peer.login()
        events = await peer.events(len(expected))
        headers = [dict(line.split(": ", 1) for line in frame.decode().split("\r\n")) for frame in expected]
        assert [(event["Event"], event.get("Uniqueid")) for event in events] == [
            (header["Event"], header.get("Uniqueid")) for header in headers
        ]
        assert {event["Privilege"] for event in events} == {"call,all"}
        peer.close()
        await sim.stop()

    async def test_loop_makes_fresh_calls(self) -> None:
        """Given loop=True, when the trace restarts, then its Uniqueids are new and its Timestamps later."""
        count = len(recorded_events(TRACE_01))
        sim = AmiSimulator([TRACE_01], loop=True)
        await sim.start()
        peer = await Peer.connect(sim)
        await peer.login()
        events = await peer.events(2 * count)
        first, second = events[:count], events[count:]
        first_ids = {event["Uniqueid"] for event in first if "Uniqueid" in event}
        second_ids = {event["Uniqueid"] for event in second if "Uniqueid" in event}
        assert len(second_ids) == len(first_ids)
        assert not first_ids & second_ids
        assert float(second[2]["Timestamp"]) > float(first[-1]["Timestamp"])
        assert [event["Event"] for event in first] == [event["Event"] for event in second]
        peer.close()
        await sim.stop()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def stamps(frames: list[bytes] | list[dict[str, str]]) -> list[float]:
    """The Timestamp of each frame that has one, in order."""
    found: list[float] = []
    for frame in frames:
        headers = frame if isinstance(frame, dict) else dict(
            line.split(": ", 1) for line in frame.decode().split("\r\n") if ": " in line
        )
        if "Timestamp" in headers:
            found.append(float(headers["Timestamp"]))
    return found


class TestRetime:
    async def test_first_stamp_is_now_and_gaps_kept(self) -> None:
        """Given retime and a clock at 2,000,000,000, when trace 01 streams, then its first Timestamp is exactly
        that time and every later one keeps its recorded distance to the first (to the microsecond)."""
        recorded = stamps(recorded_events(TRACE_01))
        sim = AmiSimulator([TRACE_01], retime=True, clock=Clock(2_000_000_000.0))
        await sim.start()
        peer = await Peer.connect(sim)
        await peer.login()
        sent = stamps(await peer.events(len(recorded_events(TRACE_01))))
        assert sent[0] == 2_000_000_000.0
        assert [round(stamp - sent[0], 6) for stamp in sent] == [round(stamp - recorded[0], 6) for stamp in recorded]
        assert sim.retimed
        peer.close()
        await sim.stop()

    async def test_clients_share_the_shift(self) -> None:
        """Given retime, when a second client logs in after the clock moved on, then it is sent the same bytes as
        the first (the shift of a pass is decided once), so a recording of one client replays to what another got."""
        clock = Clock(2_000_000_000.0)
        count = len(recorded_events(TRACE_01))
        sim = AmiSimulator([TRACE_01], retime=True, clock=clock)
        await sim.start()
        first = await Peer.connect(sim)
        await first.login()
        await first.events(count)
        clock.now += 3600.0
        second = await Peer.connect(sim)
        await second.login()
        await second.events(count)
        body = [peer.raw.split(b"Authentication accepted\r\n\r\n", 1)[1] for peer in (first, second)]
        assert body[0] == body[1]
        assert stamps(frames_of(body[0]))[0] == 2_000_000_000.0
        first.close()
        second.close()
        await sim.stop()

    async def test_each_loop_moves_to_its_own_start(self) -> None:
        """Given retime and loop, when the clock reads T0 at the first pass and T1 when the second pass starts, then
        the second pass starts at T1 exactly, with fresh Uniqueids as without retime."""
        clock = Clock(2_000_000_000.0)
        count = len(recorded_events(TRACE_01))
        sim = AmiSimulator([TRACE_01], retime=True, loop=True, clock=clock)
        sim.pause_at(count)
        await sim.start()
        peer = await Peer.connect(sim)
        await peer.login()
        first = await peer.events(count)
        clock.now = 2_000_000_500.0
        sim.pause_at(None)
        second = await peer.events(count)
        assert stamps(first)[0] == 2_000_000_000.0
        assert stamps(second)[0] == 2_000_000_500.0
        first_ids = {event["Uniqueid"] for event in first if "Uniqueid" in event}
        second_ids = {event["Uniqueid"] for event in second if "Uniqueid" in event}
        assert first_ids
        assert not first_ids & second_ids
        assert {uid.split(".")[1] for uid in second_ids} == {str(int(uid.split(".")[1]) + 1_000_000)
                                                             for uid in first_ids}
        peer.close()
        await sim.stop()


def frames_of(body: bytes) -> list[bytes]:
    """The frames of a received byte stream."""
    return [frame for frame in body.split(b"\r\n\r\n") if frame]


class TestCoreShowChannels:
    async def test_snapshot_mid_call(self) -> None:
        """Given trace 01 held after both parties entered the bridge (event 40), then CoreShowChannels lists 201 running
        Dial and 202 as AppDial, both Up, in the recorded format."""
        sim = AmiSimulator([TRACE_01])
        sim.pause_at(40)
        await sim.start()
        peer = await Peer.connect(sim)
        await peer.login()
        await peer.events(40)
        peer.send(Action="CoreShowChannels", ActionID="c1")
        start = await peer.answer("c1")
        assert (start["Response"], start["EventList"], start["Message"]) == ("Success", "start", "Channels will follow")
        rows = [await peer.answer("c1") for _ in range(3)]
        caller, callee, complete = rows
        assert list(caller) == sample_keys()
        assert (caller["Channel"], caller["Application"], caller["ApplicationData"]) == (
            "PJSIP/201-00000022", "Dial", "PJSIP/202,5,tT"
        )  # fmt: skip
        assert (caller["ChannelState"], caller["Duration"], caller["Linkedid"]) == ("6", "00:00:02", "1795871929.34")
        assert (callee["Channel"], callee["Application"], callee["ApplicationData"]) == (
            "PJSIP/202-00000023", "AppDial", "(Outgoing Line)"
        )  # fmt: skip
        assert callee["BridgeId"] == caller["BridgeId"] != ""
        assert (complete["Event"], complete["EventList"], complete["ListItems"]) == (
            "CoreShowChannelsComplete", "Complete", "2"
        )  # fmt: skip
        peer.close()
        await sim.stop()

    async def test_empty_after_hangups(self) -> None:
        """Given the whole of trace 01 sent (both hung up), when CoreShowChannels, then no channel is listed."""
        sim = AmiSimulator([TRACE_01])
        await sim.start()
        peer = await Peer.connect(sim)
        await peer.login()
        await peer.events(len(recorded_events(TRACE_01)))
        peer.send(Action="CoreShowChannels", ActionID="c2")
        await peer.answer("c2")
        complete = await peer.answer("c2")
        assert (complete["Event"], complete["ListItems"]) == ("CoreShowChannelsComplete", "0")
        peer.close()
        await sim.stop()


def sample_keys() -> list[str]:
    """The header order of a CoreShowChannel entry in the recorded Asterisk 22 sample."""
    text = SAMPLE.read_text(encoding="utf-8")
    entry = text.split("Event: CoreShowChannel\n", 1)[1].split("\n\n", 1)[0]
    return ["Event", *(line.split(":", 1)[0] for line in entry.splitlines())]


@pytest.mark.heavy  # the simulator as a process
class TestCommandLine:
    async def test_simulate_subprocess(self, tmp_path: Path) -> None:
        """Given `event-agent simulate TRACE --port 0`, when a client logs in, then it is served; SIGTERM exits 0."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "simulate", str(TRACE_01), "--port", "0", "--speed", "0",
            stdout=asyncio.subprocess.PIPE, cwd=tmp_path,
        )  # fmt: skip
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), WAIT)).decode()
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", line)[1])  # type: ignore[index]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        peer = Peer(reader, writer)
        assert (await peer.login())["Response"] == "Success"
        assert (await peer.events(3))[0]["Event"] == "FullyBooted"
        peer.close()
        process.terminate()
        assert await asyncio.wait_for(process.wait(), WAIT) == 0

    @pytest.mark.parametrize("keep", [True, False])
    async def test_timestamps_moved_unless_kept(self, tmp_path: Path, keep: bool) -> None:
        """Given `simulate` with or without --keep-timestamps, then the first Timestamp is the recorded one, or
        one no earlier than the moment the process was started (the recording is days older than that)."""
        started = time.time()
        flags = ["--keep-timestamps"] if keep else []
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "simulate", str(TRACE_01), "--port", "0", "--speed", "0", *flags,
            stdout=asyncio.subprocess.PIPE, cwd=tmp_path,
        )  # fmt: skip
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), WAIT)).decode()
        assert ("timestamps as recorded" if keep else "timestamps moved to now") in line
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", line)[1])  # type: ignore[index]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        peer = Peer(reader, writer)
        await peer.login()
        first = stamps(await peer.events(3))[0]
        peer.close()
        process.terminate()
        assert await asyncio.wait_for(process.wait(), WAIT) == 0
        recorded = stamps(recorded_events(TRACE_01))[0]
        if keep:
            assert first == recorded
        else:
            assert first >= round(started, 6) > recorded

    async def test_missing_trace(self, tmp_path: Path) -> None:
        """Given a trace path that does not exist, when simulating, then exit status 66."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "simulate", str(tmp_path / "nope.ami"), "--port", "0",
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert await asyncio.wait_for(process.wait(), WAIT) == 66
