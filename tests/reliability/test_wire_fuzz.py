"""Bad AMI bytes never break the wire decoder: random splits, truncated frames, invalid UTF-8, enormous headers."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.ami.events import AmiEvent
from agent.ami.wire import DEFAULT_MAX_FRAME, FrameDecoder, Skim
from agent.mapping.tracker import skim
from tests.reliability.synth import BANNER, SEP, call_frames, trace_path

FRAMES = call_frames(trace_path("09_inbound_ringgroup_203_answers").read_bytes())
STREAM = BANNER + b"".join(frame + SEP for frame in FRAMES)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode(chunks: list[bytes], skim: Skim | None = None) -> tuple[list[AmiEvent], FrameDecoder]:
    decoder = FrameDecoder(skim=skim)
    events: list[AmiEvent] = []
    for chunk in chunks:
        events += decoder.feed_events(chunk, 0.0)
    return events, decoder


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def headers_of(events: list[AmiEvent]) -> list[dict[str, str]]:
    return [dict(event.headers) for event in events]


garbage = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"\xff\xfe\xc3(", b"Event: Hangup\r\nUniqueid", b"no colon here", b": empty key",
                     b"Event: Newchannel\r\n\xed\xa0\x80: x", b"\r\n\r\n\r\n", b"Key:value"]),
)


class TestWireFuzz:
    @FUZZ
    @given(st.lists(st.integers(min_value=0), max_size=40))
    def test_random_splits(self, cuts: list[int]) -> None:
        """Given a real trace, when cut at random points across reads, then the same events as read whole."""
        whole, _ = decode([STREAM])
        pieces, decoder = decode(split(STREAM, cuts))
        assert headers_of(pieces) == headers_of(whole)
        assert len(whole) == len(FRAMES)
        assert decoder.stats.malformed == 0

    @FUZZ
    @given(st.lists(st.tuples(st.integers(min_value=0, max_value=len(FRAMES) - 1), garbage), max_size=8),
           st.lists(st.integers(min_value=0), max_size=10))
    def test_garbage_between_frames(self, inserts: list[tuple[int, bytes]], cuts: list[int]) -> None:
        """Given garbage frames inserted between real ones, when decoded in random pieces, then no exception and
        every real frame still arrives intact, in order."""
        frames = list(FRAMES)
        for position, junk in sorted(inserts, reverse=True):
            frames.insert(position, junk.replace(SEP, b"\r\n"))
        data = BANNER + b"".join(frame + SEP for frame in frames)
        events, _ = decode(split(data, cuts))
        wanted = headers_of(decode([STREAM])[0])
        got = [headers for headers in headers_of(events) if headers in wanted]
        assert got == wanted

    @FUZZ
    @given(st.lists(st.tuples(st.integers(min_value=0, max_value=len(FRAMES) - 1), garbage), max_size=8),
           st.lists(st.integers(min_value=0), max_size=10))
    def test_skimming_decoder_keeps_every_frame_the_tracker_reads(self, inserts: list[tuple[int, bytes]],
                                                                  cuts: list[int]) -> None:
        """Given garbage between real frames, when decoded in random pieces with skimming (as the daemon reads),
        then no exception, and every frame the tracker reads arrives exactly as the full decoder gives it."""
        frames = list(FRAMES)
        for position, junk in sorted(inserts, reverse=True):
            frames.insert(position, junk.replace(SEP, b"\r\n"))
        pieces = split(BANNER + b"".join(frame + SEP for frame in frames), cuts)
        full, _ = decode(pieces)
        light, _ = decode(pieces, skim)
        assert headers_of([e for e in light if e.raw]) == headers_of([e for e in full if not skim(e.raw)])
        assert any(not e.raw for e in light)

    @FUZZ
    @given(st.integers(min_value=1, max_value=len(FRAMES) - 1), st.integers(min_value=1))
    def test_truncated_frame(self, index: int, cut: int) -> None:
        """Given a frame cut short by a lost connection, when the next connection starts clean, then the
        decoder of that connection reads every frame and the truncated one never surfaces."""
        frame = FRAMES[index]
        first, _ = decode([BANNER + b"".join(f + SEP for f in FRAMES[:index]) + frame[: cut % len(frame)]])
        assert len(first) == index
        second, decoder = decode([STREAM])
        assert len(second) == len(FRAMES)
        assert decoder.stats.malformed == 0

    @FUZZ
    @given(st.binary(min_size=1, max_size=64).filter(lambda b: SEP not in b))
    def test_invalid_utf8(self, junk: bytes) -> None:
        """Given a header value of random bytes (invalid UTF-8 included), when decoded, then one event whose
        other headers are intact, and the following frame too."""
        name = junk.replace(b"\r", b"").replace(b"\n", b"")
        frame = b"Event: Newchannel\r\nCallerIDName: " + name + b"\r\nUniqueid: 1.1"
        events, _ = decode([BANNER, frame + SEP, FRAMES[0] + SEP])
        assert events[0].get("Uniqueid") == "1.1"
        assert dict(events[-1].headers) == dict(decode([BANNER + FRAMES[0] + SEP])[0][0].headers)

    def test_enormous_header(self) -> None:
        """Given one header of 1 MiB (beyond the 64 KiB frame limit), when decoded in 4 KiB reads, then it is
        counted as oversized and dropped, and every frame after it arrives."""
        huge = b"Event: Newchannel\r\nCallerIDName: " + b"x" * (1 << 20) + b"\r\nUniqueid: 9.9" + SEP
        data = BANNER + FRAMES[0] + SEP + huge + b"".join(frame + SEP for frame in FRAMES[1:])
        events, decoder = decode([data[i : i + 4096] for i in range(0, len(data), 4096)])
        assert headers_of(events) == headers_of(decode([STREAM])[0])
        assert decoder.stats.oversized >= 1

    def test_many_headers(self) -> None:
        """Given a frame of 100,000 tiny headers (over the limit) then a normal frame, when decoded, then the
        normal frame arrives and the decoder's buffer stays bounded."""
        flood = b"Event: Flood\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(100_000)) + b"\r\n"
        events, decoder = decode([BANNER, flood[:300_000], flood[300_000:], FRAMES[0] + SEP])
        assert [dict(event.headers) for event in events] == headers_of(decode([BANNER + FRAMES[0] + SEP])[0])
        assert len(decoder._buffer) <= DEFAULT_MAX_FRAME
