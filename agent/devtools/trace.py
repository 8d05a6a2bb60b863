"""Reading `.ami` trace files (the raw AMI byte stream, CRLF kept, banner first), for replay and the simulator."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agent.ami.events import AmiEvent, uniqueid_epoch
from agent.ami.wire import FrameDecoder, FrameStats, to_event


def normalise_line_endings(data: bytes) -> bytes:
    """LF-only captures become CRLF, as Asterisk sends them."""
    if b"\r\n" in data:
        return data
    return data.replace(b"\n", b"\r\n")


def read_frames(data: bytes) -> tuple[list[list[tuple[str, str]]], FrameStats]:
    """Every frame of a trace (events and responses), with the decoder's counters."""
    decoder = FrameDecoder()
    frames = decoder.feed(normalise_line_endings(data) + b"\r\n\r\n")
    return frames, decoder.stats


def read_events(path: Path) -> list[AmiEvent]:
    """The events of a trace, in order.

    Replay time: an event's `Timestamp` when present; otherwise `received_at` is the epoch of the first
    Uniqueid seen in the trace, never advancing (docs/traces.md), so replay is deterministic.
    """
    frames, _ = read_frames(path.read_bytes())
    events: list[AmiEvent] = []
    fallback = 0.0
    for pairs in frames:
        headers = dict(pairs)
        if "Event" not in headers:
            continue
        if not fallback:
            fallback = _first_epoch(headers) or 0.0
        events.append(to_event(pairs, fallback))
    return events


def _first_epoch(headers: dict[str, str]) -> float | None:
    for key in ("Uniqueid", "DestUniqueid", "Linkedid"):
        if headers.get(key) and (epoch := uniqueid_epoch(headers[key])) is not None:
            return epoch
    return None


_ID_LINE = re.compile(rb"^(\w*(?:Uniqueid|Linkedid): (?:[^\r\n]*-)?\d+)\.(\d+)(?=\r?$)", re.MULTILINE)
_STAMP_LINE = re.compile(rb"^Timestamp: (\d+(?:\.\d+)?)(?=\r?$)", re.MULTILINE)
_ID_SPACE = 1_000_000


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One event frame of a trace: its bytes as recorded (no trailing blank line) and what a server needs."""

    raw: bytes
    headers: Mapping[str, str]
    timestamp: float | None
    privilege: str

    @classmethod
    def from_raw(cls, raw: bytes, pairs: list[tuple[str, str]]) -> TraceEvent:
        event = to_event(pairs, 0.0)
        privilege = event.get("Privilege").split(",", 1)[0]
        return cls(raw=raw, headers=event.headers, timestamp=event.timestamp, privilege=privilege)


def trace_events(data: bytes) -> list[TraceEvent]:
    """The event frames of a trace with their raw bytes; the banner, responses and malformed frames are left out."""
    decoder = FrameDecoder()
    events: list[TraceEvent] = []
    for chunk in normalise_line_endings(data).split(b"\r\n\r\n"):
        raw = chunk.strip(b"\r\n")
        pairs = decoder.feed(raw + b"\r\n\r\n") if raw else []
        if pairs and any(key == "Event" for key, _ in pairs[0]):
            events.append(TraceEvent.from_raw(raw, pairs[0]))
    return events


def renumbered(data: bytes, repetition: int, time_shift: float) -> bytes:
    """The trace as a distinct repetition: every `*Uniqueid`/`*Linkedid` sequence number gets
    `repetition * 1,000,000` added (so calls stay distinct and Uniqueid == Linkedid still holds), and every
    `Timestamp` moves by `time_shift` seconds. Repetition 0 with no shift is the trace unchanged."""
    if repetition:
        offset = repetition * _ID_SPACE
        data = _ID_LINE.sub(lambda m: m[1] + b"." + str(int(m[2]) + offset).encode(), data)
    if time_shift:
        data = _STAMP_LINE.sub(lambda m: b"Timestamp: %.6f" % (float(m[1]) + time_shift), data)
    return data


def timestamp_span(events: list[TraceEvent]) -> float:
    """Seconds from the first to the last Timestamp of the events (0 without any)."""
    stamps = [event.timestamp for event in events if event.timestamp is not None]
    return max(stamps) - min(stamps) if stamps else 0.0
