"""The AMI wire decoder: framing before decoding, malformed frames, and the fast path agreeing with the full parse."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.ami.wire import FrameDecoder, FrameStats, decode_event, parse_frame, to_event

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
NAME_FRAME = "Event: Newchannel\r\nCallerIDName: Jürgen Müller\r\nUniqueid: 1.1\r\n\r\n".encode()


class TestFrameDecoder:
    def test_utf8_split_at_every_byte(self) -> None:
        """Given `Jürgen Müller`, when split at any byte (also inside ü), then the name arrives whole."""
        stream = BANNER + NAME_FRAME
        for cut in range(1, len(stream)):
            decoder = FrameDecoder()
            events = decoder.feed_events(stream[:cut], 0.0) + decoder.feed_events(stream[cut:], 0.0)
            assert [event.get("CallerIDName") for event in events] == ["Jürgen Müller"], cut

    def test_banner_taken(self) -> None:
        """Given the banner then a frame, when fed, then the banner is kept apart and the frame parsed."""
        decoder = FrameDecoder()
        frames = decoder.feed(BANNER + b"Response: Success\r\nMessage: ok\r\n\r\n")
        assert decoder.banner == "Asterisk Call Manager/11.0.0"
        assert frames == [[("Response", "Success"), ("Message", "ok")]]

    def test_no_banner_for_servers(self) -> None:
        """Given a server-side decoder, when "A" arrives alone, then no line is taken as the banner."""
        decoder = FrameDecoder(expect_banner=False)
        frames = decoder.feed(b"A") + decoder.feed(b"ction: Ping\r\n\r\n")
        assert frames == [[("Action", "Ping")]]

    def test_malformed_frames_skipped(self) -> None:
        """Given junk frames between events, when fed, then the junk is counted and the events around it are kept."""
        good = b"Event: A\r\nX: 1\r\n\r\n"
        junk = b"no colon here\r\n\r\n" + b"\x00\xff\xfe\x80\x01binary\r\n\r\n" + b"Event: B\r\n: empty key\r\n\r\n"
        decoder = FrameDecoder()
        events = decoder.feed_events(BANNER + good + junk + good, 0.0)
        assert [event.name for event in events] == ["A", "A"]
        assert decoder.stats.malformed == 3

    def test_huge_frame_in_pieces(self) -> None:
        """Given a 100 kB header in 4 kB reads between two events, then it is counted once, both events kept."""
        stream = BANNER + b"Event: A\r\n\r\n" + b"Event: Big\r\nData: " + b"x" * 100_000 + b"\r\n\r\nEvent: C\r\n\r\n"
        decoder = FrameDecoder(max_frame=16_384)
        events = []
        for start in range(0, len(stream), 4096):
            events += decoder.feed_events(stream[start : start + 4096], 0.0)
        assert [event.name for event in events] == ["A", "C"]
        assert (decoder.stats.malformed, decoder.stats.oversized) == (1, 1)

    def test_huge_frame_in_one_read(self) -> None:
        """Given a frame over the limit arriving whole, when fed, then it is counted and skipped."""
        decoder = FrameDecoder(max_frame=1000)
        events = decoder.feed_events(BANNER + b"Event: Big\r\nData: " + b"y" * 2000 + b"\r\n\r\nEvent: C\r\n\r\n", 0.0)
        assert [event.name for event in events] == ["C"]
        assert decoder.stats.oversized == 1

    def test_channel_variables(self) -> None:
        """Given ChanVariable and DestChanVariable headers, when decoded, then they become variable maps."""
        frame = b"Event: DialBegin\r\nChanVariable: TENANT=acme\r\nChanVariable: X=1=2\r\nDestChanVariable: TENANT=b"
        event = decode_event(frame, 5.0, FrameStats())
        assert event is not None
        assert dict(event.variables) == {"TENANT": "acme", "X": "1=2"}
        assert dict(event.dest_variables) == {"TENANT": "b"}
        assert event.received_at == 5.0

    def test_first_header_wins(self) -> None:
        """Given a header repeated, when decoded, then its first value is kept."""
        event = decode_event(b"Event: X\r\nOutput: one\r\nOutput: two", 0.0, FrameStats())
        assert event is not None
        assert event.get("Output") == "one"


HEADER_KEY = st.sampled_from(["Event", "Channel", "Key", " Spaced", "Tab\tbed", "Co:lon", "", "ChanVariable"])
HEADER_VALUE = st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=12)
SEPARATOR = st.sampled_from([": ", ":", ":  ", " : "])


class TestFastPath:
    @given(st.lists(st.tuples(HEADER_KEY, SEPARATOR, HEADER_VALUE), min_size=1, max_size=6))
    def test_agrees_with_full_parse(self, lines: list[tuple[str, str, str]]) -> None:
        """Given odd keys, separators and values, when decoded, then the fast path equals the full parse."""
        chunk = "\r\n".join(key + sep + value for key, sep, value in lines).encode()
        fast = decode_event(chunk, 1.0, FrameStats())
        pairs = parse_frame(chunk, FrameStats())
        slow = None if pairs is None else to_event(pairs, 1.0)
        assert fast == slow
