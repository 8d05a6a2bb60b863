"""AMI wire framing and parsing: bytes in, header maps out.

Frames are split on the blank line (CRLF CRLF) *before* decoding, so a UTF-8 character split across TCP
reads is decoded whole. Malformed frames are counted and skipped; the frames around them are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

from agent.ami.events import AmiEvent

BANNER_PREFIX = b"Asterisk Call Manager"
DEFAULT_MAX_FRAME = 64 * 1024
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


class FrameDecoder:
    """Incremental AMI frame decoder: `feed(bytes)` returns the complete frames as lists of (key, value)."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._buffer = b""
        self._max_frame = max_frame
        self._skipping = False
        self.banner: str | None = None
        self.stats = FrameStats()

    def feed(self, data: bytes) -> list[list[tuple[str, str]]]:
        buffer = self._buffer + data
        if self.banner is None:
            buffer = self._take_banner(buffer)
            if self.banner is None:
                self._buffer = buffer
                return []
        *chunks, rest = buffer.split(_SEP)
        frames = [frame for chunk in chunks if (frame := self._frame(chunk)) is not None]
        self._buffer = self._bounded(rest)
        return frames

    def _take_banner(self, buffer: bytes) -> bytes:
        if not buffer.startswith(BANNER_PREFIX[: len(buffer)]):
            self.banner = ""
            return buffer
        line_end = buffer.find(b"\r\n")
        if line_end < 0:
            return buffer
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

    def _frame(self, chunk: bytes) -> list[tuple[str, str]] | None:
        if self._skipping:
            self._skipping = False
            return None
        chunk = chunk.strip(b"\r\n")
        if not chunk:
            return None
        self.stats.frames += 1
        if len(chunk) > self._max_frame:
            self.stats.oversized += 1
            self.stats.reject(f"frame larger than {self._max_frame} bytes")
            return None
        return parse_frame(chunk, self.stats)


def parse_frame(chunk: bytes, stats: FrameStats) -> list[tuple[str, str]] | None:
    """Parse one frame's `Key: Value` lines; a line without a colon makes the frame malformed."""
    text = chunk.decode("utf-8", "replace")
    pairs: list[tuple[str, str]] = []
    for line in text.split("\r\n"):
        key, sep, value = line.partition(":")
        if not sep or not key or key != key.strip():
            stats.reject(f"line without 'Key: value': {line[:80]!r}")
            return None
        pairs.append((key, value[1:] if value.startswith(" ") else value))
    return pairs


def to_event(pairs: list[tuple[str, str]], received_at: float) -> AmiEvent:
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
    )


def _add_variable(target: dict[str, str], value: str) -> None:
    name, _, var_value = value.partition("=")
    if name:
        target[name] = var_value
