"""AMI wire framing and parsing: bytes in, header maps out.

Frames are split on the blank line (CRLF CRLF) *before* decoding, so a UTF-8 character split across TCP
reads is decoded whole. Malformed frames are counted and skipped; the frames around them are kept.

Two ways out of a `FrameDecoder`: `feed()` gives every frame as its (key, value) pairs (traces, tests), and
`feed_events()` gives `AmiEvent`s directly (the live client). The second takes a fast path for ordinary
frames (one `split(": ")` per line, one dict) and falls back to `parse_frame` + `to_event` for anything
unusual (repeated headers, channel variables, odd spacing), so both ways agree on every input. Given a `skim`
predicate, frames it names (the VarSet flood of a real PBX) are not parsed at all.

What a peer can make the decoder hold is bounded (docs/security.md, "Hostile AMI peers"): a frame without an end
is skipped past `max_frame` bytes, a frame with more than MAX_HEADERS lines is counted as malformed and skipped,
and a banner line without an end past MAX_BANNER bytes sets `failure` (the connection then drops it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import repeat
from types import MappingProxyType

from agent.ami.events import AmiEvent

BANNER_PREFIX = b"Asterisk Call Manager"
DEFAULT_MAX_FRAME = 64 * 1024
MAX_BANNER = 256  # bytes of the banner line; Asterisk's is about 30 ("Asterisk Call Manager/11.0.0")
MAX_HEADERS = 512  # lines in one frame; a real event has a few dozen (more with many `channelvars`)
_SEP = b"\r\n\r\n"


@dataclass
class FrameStats:
    """Counters of what the decoder saw."""

    frames: int = 0
    malformed: int = 0
    oversized: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.malformed += 1
        if len(self.reasons) < 20:
            self.reasons.append(reason)


# Given a frame's bytes, the name of an event the reader will never look into (it is then not parsed: only
# its name and Timestamp are kept, so it is still counted and timed), else "".
Skim = Callable[[bytes], str]


class FrameDecoder:
    """Incremental AMI frame decoder: `feed(bytes)` returns the complete frames as lists of (key, value).

    A server reading client actions passes `expect_banner=False` (only servers send the banner).
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME, *, expect_banner: bool = True,
                 skim: Skim | None = None) -> None:
        self._skim = skim
        self._buffer = b""
        self._max_frame = max_frame
        self._skipping = False
        self.banner: str | None = None if expect_banner else ""
        self.stats = FrameStats()
        self.failure = ""  # why the stream cannot be an AMI stream (its reader should drop it), else ""

    def feed(self, data: bytes) -> list[list[tuple[str, str]]]:
        """The frames completed by `data`, as (key, value) pairs in wire order."""
        return [frame for chunk in self._chunks(data) if (frame := parse_frame(chunk, self.stats)) is not None]

    def feed_events(self, data: bytes, received_at: float) -> list[AmiEvent]:
        """The frames completed by `data` as AmiEvents (responses too: their `name` is "")."""
        stats, skim = self.stats, self._skim
        if skim is None:
            return [event for chunk in self._chunks(data) if (event := decode_event(chunk, received_at, stats))]
        return [event for chunk in self._chunks(data)
                if (event := skimmed(chunk, name, received_at) if (name := skim(chunk))
                    else decode_event(chunk, received_at, stats))]

    def _chunks(self, data: bytes) -> list[bytes]:
        buffer = self._buffer + data if self._buffer else data
        if self.banner is None:
            buffer = self._take_banner(buffer)
            if self.banner is None:
                self._buffer = buffer
                return []
        *chunks, rest = buffer.split(_SEP)
        self._buffer = self._bounded(rest)
        return [kept for chunk in chunks if (kept := self._accept(chunk))]

    def _take_banner(self, buffer: bytes) -> bytes:
        if not buffer.startswith(BANNER_PREFIX[: len(buffer)]):
            self.banner = ""
            return buffer
        line_end = buffer.find(b"\r\n", 0, MAX_BANNER + 2)
        if line_end < 0:
            if len(buffer) <= MAX_BANNER:
                return buffer
            self.failure = f"the banner line has no end within {MAX_BANNER} bytes"
            self.banner = ""
            self.stats.reject(self.failure)
            return b""
        self.banner = buffer[:line_end].decode("utf-8", "replace")
        return buffer[line_end + 2 :]

    def _bounded(self, rest: bytes) -> bytes:
        if len(rest) <= self._max_frame:
            return rest
        if not self._skipping:
            self.stats.oversized += 1
            self.stats.reject(f"frame larger than {self._max_frame} bytes")
        self._skipping = True
        return rest[-3:]

    def _accept(self, chunk: bytes) -> bytes:
        """The chunk to parse, or b"" when it is empty, the tail of an oversized frame, or oversized itself."""
        if self._skipping:
            self._skipping = False
            return b""
        chunk = chunk.strip(b"\r\n")
        if not chunk:
            return b""
        self.stats.frames += 1
        if len(chunk) > self._max_frame:
            self.stats.oversized += 1
            self.stats.reject(f"frame larger than {self._max_frame} bytes")
            return b""
        return chunk


def parse_frame(chunk: bytes, stats: FrameStats) -> list[tuple[str, str]] | None:
    """Parse one frame's `Key: Value` lines; a line without a colon makes the frame malformed."""
    return _parse_lines(chunk.decode("utf-8", "replace").split("\r\n"), stats)


def _parse_lines(lines: list[str], stats: FrameStats) -> list[tuple[str, str]] | None:
    if _too_many(lines, stats):
        return None
    pairs: list[tuple[str, str]] = []
    for line in lines:
        key, sep, value = line.partition(":")
        if not sep or not key or key != key.strip():
            stats.reject(f"line without 'Key: value': {line[:80]!r}")
            return None
        pairs.append((key, value[1:] if value.startswith(" ") else value))
    return pairs


def _too_many(lines: list[str], stats: FrameStats) -> bool:
    if len(lines) <= MAX_HEADERS:
        return False
    stats.reject(f"frame with more than {MAX_HEADERS} lines")
    return True


def decode_event(chunk: bytes, received_at: float, stats: FrameStats) -> AmiEvent | None:
    """One frame as an AmiEvent, or None when malformed (counted in `stats`).

    The fast path is taken only when it gives exactly what `parse_frame` + `to_event` would: every line has
    `": "`, no header repeats, no channel variables, and no key holds a colon, a blank or a tab.
    """
    lines = chunk.decode("utf-8", "replace").split("\r\n")
    if _too_many(lines, stats):
        return None
    try:
        headers = dict(map(str.split, lines, repeat(": "), repeat(1)))
    except ValueError:
        headers = {}
    if len(headers) != len(lines) or _needs_full_parse(headers):
        pairs = _parse_lines(lines, stats)
        return None if pairs is None else to_event(pairs, received_at, chunk)
    return AmiEvent(headers=headers, received_at=received_at, raw=chunk)


def skimmed(chunk: bytes, name: str, received_at: float) -> AmiEvent:
    """A frame its reader will not look into (see `Skim`): only its name and Timestamp are kept."""
    headers = {"Event": name}
    at = chunk.find(b"\r\nTimestamp: ")
    if at >= 0:
        end = chunk.find(b"\r\n", at + 13)
        headers["Timestamp"] = chunk[at + 13 : end if end >= 0 else len(chunk)].decode("utf-8", "replace")
    return AmiEvent(headers=headers, received_at=received_at)


def _needs_full_parse(headers: dict[str, str]) -> bool:
    if "" in headers or "ChanVariable" in headers or "DestChanVariable" in headers:
        return True
    keys = "".join(headers)
    return ":" in keys or " " in keys or "\t" in keys


def to_event(pairs: list[tuple[str, str]], received_at: float, raw: bytes = b"") -> AmiEvent:
    """Build an AmiEvent: first occurrence of each header wins; ChanVariable headers become variables."""
    headers: dict[str, str] = {}
    variables: dict[str, str] = {}
    dest_variables: dict[str, str] = {}
    for key, value in pairs:
        if key == "ChanVariable":
            _add_variable(variables, value)
        elif key == "DestChanVariable":
            _add_variable(dest_variables, value)
        elif key not in headers:
            headers[key] = value
    return AmiEvent(
        headers=headers,
        received_at=received_at,
        variables=MappingProxyType(variables),
        dest_variables=MappingProxyType(dest_variables),
        raw=raw,
    )


def _add_variable(target: dict[str, str], value: str) -> None:
    name, _, var_value = value.partition("=")
    if name:
        target[name] = var_value


def encode_event(event: AmiEvent) -> bytes:
    """The frame of an event (its `raw` bytes when it came off the wire): `decode_event` gives it back."""
    if event.raw:
        return event.raw
    lines = [f"{key}: {value}" for key, value in event.headers.items()]
    lines += [f"ChanVariable: {name}={value}" for name, value in event.variables.items()]
    lines += [f"DestChanVariable: {name}={value}" for name, value in event.dest_variables.items()]
    return "\r\n".join(lines).encode("utf-8")
