"""The bounds of docs/security.md, "Hostile AMI peers", one unit at a time: the decoder, the resync collection and
the log escape. tests/security/test_hostile_ami.py runs them against a real agent."""

from __future__ import annotations

import pytest

from agent.ami.events import AmiEvent, printable
from agent.ami.snapshot import Snapshot, SnapshotLimits
from agent.ami.wire import MAX_BANNER, MAX_HEADERS, FrameDecoder, decode_event

FRAME = b"Event: Newstate\r\nUniqueid: 1.1\r\n\r\n"


def entry(n: int) -> AmiEvent:
    raw = f"Event: CoreShowChannel\r\nActionID: a\r\nChannel: PJSIP/201-{n:08x}\r\nUniqueid: 1.{n}".encode()
    event = decode_event(raw, 0.0, FrameDecoder().stats)
    assert event is not None
    return event


class TestDecoderBounds:
    def test_banner_without_end(self) -> None:
        """Given a banner line that runs past MAX_BANNER bytes in pieces, then the decoder says why the stream is
        not AMI, and holds nothing of it."""
        decoder = FrameDecoder()
        decoder.feed(b"Asterisk Call Manager/")
        assert decoder.failure == ""
        decoder.feed(b"x" * MAX_BANNER)
        assert decoder.failure == f"the banner line has no end within {MAX_BANNER} bytes"

    def test_long_enough_banner(self) -> None:
        """Given a banner of MAX_BANNER bytes with its end, then it is the banner and the frames follow."""
        banner = b"Asterisk Call Manager/" + b"9" * (MAX_BANNER - 22)
        decoder = FrameDecoder()
        assert decoder.feed(banner + b"\r\n" + FRAME) == [[("Event", "Newstate"), ("Uniqueid", "1.1")]]
        assert decoder.banner == banner.decode()
        assert decoder.failure == ""

    @pytest.mark.parametrize("events", [False, True])
    def test_too_many_headers(self, events: bool) -> None:
        """Given a frame of MAX_HEADERS + 1 lines between two good frames, then it is counted as malformed and
        skipped, the others kept; a frame of MAX_HEADERS lines is kept."""
        many = b"Event: Junk\r\n" + b"".join(b"h%d: v\r\n" % n for n in range(MAX_HEADERS)) + b"\r\n"
        most = b"Event: Junk\r\n" + b"".join(b"h%d: v\r\n" % n for n in range(MAX_HEADERS - 1)) + b"\r\n"
        decoder = FrameDecoder(expect_banner=False)
        data = FRAME + many + most + FRAME
        frames = decoder.feed_events(data, 0.0) if events else decoder.feed(data)
        assert len(frames) == 3
        assert decoder.stats.malformed == 1
        assert decoder.stats.reasons == [f"frame with more than {MAX_HEADERS} lines"]


class TestSnapshot:
    def test_channel_limit(self) -> None:
        """Given a limit of 3 channels, then 3 are kept and the 4th gives the reason, naming the setting."""
        snapshot = Snapshot(SnapshotLimits(3))
        assert [snapshot.take(entry(n)) for n in range(3)] == ["", "", ""]
        assert snapshot.take(entry(3)) == ("the CoreShowChannels answer has more than 3 channels "
                                           "(EVENT_AGENT_AMI__RESYNC_MAX_CHANNELS)")
        assert [e["Channel"] for e in snapshot.entries] == [f"PJSIP/201-{n:08x}" for n in range(3)]
        assert "Event" not in snapshot.entries[0]
        assert "ActionID" not in snapshot.entries[0]

    def test_held_events_count(self) -> None:
        """Given a limit of 1 channel (3072 bytes), then held events counted at about 1 KB each (256 per frame,
        128 per header, and their 521 bytes) give the reason at the third."""
        snapshot = Snapshot(SnapshotLimits(1))
        big = decode_event(b"Event: Newstate\r\nX: " + b"a" * 500, 0.0, FrameDecoder().stats)
        assert big is not None
        assert [bool(snapshot.hold(big)) for _ in range(3)] == [False, False, True]


class TestPrintable:
    @pytest.mark.parametrize(("value", "shown"), [
        ("1795871929.34\nFORGED", "1795871929.34\\nFORGED"),
        ("a\r\nb", "a\\r\\nb"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("tab\there", "tab\\there"),
        ("nul\x00del\x7f", "nul\\x00del\\x7f"),
        ("next\x85line", "next\\x85line"),
        ("line\u2028sep\u2029para", "line\\u2028sep\\u2029para"),
        ("Zoë Ünal 王", "Zoë Ünal 王"),
    ])
    def test_escaped(self, value: str, shown: str) -> None:
        """Control characters and line separators are escaped; everything else is kept."""
        assert printable(value) == shown
