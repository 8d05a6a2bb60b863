"""A CoreShowChannels answer recorded inside a trace (an agent that logged in mid-call recorded it): replay
treats it exactly as the live client treats its resync answer (docs/traces.md, Recorded resync).

The fixture `resync_32_login_while_203_rings.ami` is trace 32 as an agent that logged in while 203 rang would
have recorded it (`tests.support.tracker.late_login`); its golden was written by reading it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

from agent.ami.client import AmiClient
from agent.ami.events import AmiEvent, AmiMessage, ConnectionUp
from agent.devtools.replay import fixture_config, replay
from agent.devtools.trace import MessageReader, normalise_line_endings, read_messages
from agent.mapping.tracker import CallTracker
from tests.support.ami import pump
from tests.support.paths import TRACES
from tests.support.polling import WAIT
from tests.support.settings import ami_settings
from tests.support.tracker import index_of, late_login, trace_events

FIXTURE = TRACES / "resync_32_login_while_203_rings.ami"
SOURCE = "32_inbound_blind_transfer_202_to_203"


def frames(*blocks: str) -> list[list[tuple[str, str]]]:
    return [[tuple(line.split(": ", 1)) for line in block.splitlines()] for block in blocks]  # type: ignore[misc]


def read(*blocks: str) -> list[AmiEvent | ConnectionUp]:
    reader = MessageReader()
    return [message for pairs in frames(*blocks) for message in reader.take(pairs)] + reader.finish()


LOGIN = "Response: Success\nActionID: 1\nMessage: Authentication accepted"
EVENT = "Event: Newstate\nTimestamp: 100.5\nUniqueid: 100.1\nLinkedid: 100.1\nChannel: PJSIP/201-00000001"
LATER = "Event: Hangup\nTimestamp: 101.0\nUniqueid: 100.1\nLinkedid: 100.1\nChannel: PJSIP/201-00000001"
START = "Response: Success\nActionID: r\nEventList: start\nMessage: Channels will follow"
ENTRY = "Event: CoreShowChannel\nActionID: r\nChannel: PJSIP/201-00000001\nUniqueid: 100.1\nLinkedid: 100.1"
DONE = "Event: CoreShowChannelsComplete\nActionID: r\nEventList: Complete\nListItems: 1"


class TestMessageReader:
    def test_answer_becomes_a_snapshot_at_the_resync_moment(self) -> None:
        """Given an event, then a CoreShowChannels answer with an event arriving inside it, then the reader gives
        the event, the snapshot (without Event/ActionID, resync moment = the Timestamp of the last event before
        the answer), then the held event."""
        messages = read(LOGIN, EVENT, START, ENTRY, LATER, DONE)
        assert [type(m).__name__ for m in messages] == ["AmiEvent", "ConnectionUp", "AmiEvent"]
        up = messages[1]
        assert isinstance(up, ConnectionUp)
        assert up.resync_at == 100.5
        assert up.channels == ({"Channel": "PJSIP/201-00000001", "Uniqueid": "100.1", "Linkedid": "100.1"},)
        assert isinstance(messages[2], AmiEvent)
        assert messages[2].name == "Hangup"

    def test_without_an_event_before_the_moment_is_the_replay_receive_time(self) -> None:
        """Given an answer before any stamped event, then the resync moment is replay's receive time: the epoch of
        the first Uniqueid seen (docs/traces.md)."""
        (up,) = read(START, ENTRY, DONE)
        assert isinstance(up, ConnectionUp)
        assert up.resync_at == 100.0

    def test_other_answers_are_no_events(self) -> None:
        """Given the answer to another list action (its entries carry its ActionID), then no snapshot and no
        event, but the events held meanwhile still come."""
        other = "Event: QueueMember\nActionID: r\nQueue: support"
        other_done = "Event: QueueStatusComplete\nActionID: r\nEventList: Complete"
        messages = read(EVENT, START, other, LATER, other_done)
        assert [m.name for m in messages if isinstance(m, AmiEvent)] == ["Newstate", "Hangup"]
        assert not [m for m in messages if isinstance(m, ConnectionUp)]

    def test_unfinished_answer_releases_its_events(self) -> None:
        """Given a trace that ends inside an answer, then the events held are still events, with no snapshot."""
        messages = read(EVENT, START, ENTRY, LATER)
        assert [m.name for m in messages if isinstance(m, AmiEvent)] == ["Newstate", "Hangup"]
        assert len(messages) == 2

    def test_refused_answer_is_no_snapshot(self) -> None:
        """Given CoreShowChannels refused (no `reporting` write class), then nothing: no resync, as live."""
        messages = read(EVENT, "Response: Error\nActionID: r\nMessage: Permission denied", LATER)
        assert [type(m).__name__ for m in messages] == ["AmiEvent", "AmiEvent"]


class TestFixture:
    def test_is_trace_32_with_a_late_login(self) -> None:
        """The fixture is what `late_login` makes of trace 32 at 203's answer (so it stays a real trace)."""
        events = trace_events(SOURCE)
        back = index_of(events, "Newstate", "PJSIP/203", ChannelState="6")
        assert FIXTURE.read_bytes() == late_login((TRACES / f"{SOURCE}.ami").read_bytes(), back)

    def test_replays_through_the_resync(self) -> None:
        """Given the fixture, then replay adopts the call from the recorded snapshot: one completion, adopted."""
        (final,) = replay(FIXTURE, fixture_config(FIXTURE))
        assert (final.name, final.params["adopted"], final.params["reconciled"]) == ("call_answered", "1", "")


class TestLikeTheLiveClient:
    def test_the_live_client_queues_what_replay_reads(self) -> None:
        """Given the fixture served on loopback as Asterisk would (its own CoreShowChannels answered with the
        recorded answer), then the real AMI client queues the same events and the same snapshot at the same
        resync moment as replay reads, and the daemon's pump emits the same system events as replay."""
        live = asyncio.run(serve_and_collect(FIXTURE.read_bytes(), len(read_messages(FIXTURE))))
        recorded = read_messages(FIXTURE)
        assert shapes(live) == shapes(recorded)
        tracker = CallTracker(fixture_config(FIXTURE))
        ours = [(e.name, dict(e.params)) for e in pump(tracker, live) + tracker.drain()]
        assert ours == [(e.name, dict(e.params)) for e in replay(FIXTURE, fixture_config(FIXTURE))]


def shapes(messages: list[AmiMessage] | list[AmiEvent | ConnectionUp]) -> list[object]:
    """What matters of each message (live receive times of unstamped events differ from replay's; the live
    client's snapshot entries carry panoramisk's empty `content` key, which the tracker never reads)."""
    out: list[object] = []
    for message in messages:
        if isinstance(message, ConnectionUp):
            channels = [{k: v for k, v in entry.items() if k != "content"} for entry in message.channels or ()]
            out.append(("up", message.resync_at, channels))
        elif isinstance(message, AmiEvent):
            out.append(dict(message.headers))
    return out


async def serve_and_collect(data: bytes, wanted: int) -> list[AmiMessage]:
    """Serve a trace to a real AmiClient as Asterisk would; return the first `wanted` messages it queued."""
    blocks = [b for b in normalise_line_endings(data).split(b"\r\n\r\n") if b.strip()]
    banner, login = blocks[0].split(b"\r\n", 1)
    answer_at = next(n for n, block in enumerate(blocks) if b"EventList: start" in block)
    before, after = blocks[1:answer_at], blocks[answer_at:]
    recorded_id = re.search(rb"ActionID: (\S+)", after[0])
    assert recorded_id is not None
    assert login.startswith(b"Response: Success")

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(banner + b"\r\n")
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await answer(reader, writer)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while frame := await reader.readuntil(b"\r\n\r\n"):
            action = dict(line.split(": ", 1) for line in frame.decode().strip().split("\r\n"))
            reply = b"Response: Success\r\nActionID: %s\r\n" % action["ActionID"].encode()
            if action["Action"] == "Login":
                writer.write(reply + b"Message: Authentication accepted\r\n\r\n" + b"".join(
                    block + b"\r\n\r\n" for block in before))
            elif action["Action"] == "CoreShowChannels":
                ours = b"ActionID: " + action["ActionID"].encode()
                writer.write(b"".join(block.replace(b"ActionID: " + recorded_id[1], ours) + b"\r\n\r\n"
                                      for block in after))
            else:
                writer.write(reply + b"Ping: Pong\r\n\r\n")
            await writer.drain()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    queue: asyncio.Queue[AmiMessage] = asyncio.Queue()
    client = AmiClient(ami_settings(port), queue, time.time)
    task = asyncio.create_task(client.run())
    collected: list[AmiMessage] = []
    try:
        while len(collected) < wanted:
            collected.append(await asyncio.wait_for(queue.get(), WAIT))
    finally:
        await client.close()
        await asyncio.wait_for(task, WAIT)
        server.close()
        await server.wait_closed()
    return collected
