"""Reading `.ami` trace files (the raw AMI byte stream, CRLF kept, banner first), for replay and the simulator."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agent.ami.events import AmiEvent, ConnectionUp, uniqueid_epoch
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
    """The events of a trace, in order (a recorded CoreShowChannels answer left out; see `read_messages`).

    Replay time: an event's `Timestamp` when present; otherwise `received_at` is the epoch of the first
    Uniqueid seen in the trace, never advancing (docs/traces.md), so replay is deterministic.
    """
    return [message for message in read_messages(path) if isinstance(message, AmiEvent)]


def read_messages(path: Path) -> list[AmiEvent | ConnectionUp]:
    """The events of a trace in order, a recorded CoreShowChannels answer becoming the `ConnectionUp` the live
    client queues for its resync (docs/traces.md, Recorded resync)."""
    frames, _ = read_frames(path.read_bytes())
    reader = MessageReader()
    messages = [message for pairs in frames for message in reader.take(pairs)]
    return messages + reader.finish()


class MessageReader:
    """Frames in, what the live client would queue out. Frames answering an action (they carry its ActionID)
    are no events; a CoreShowChannels answer is a resync snapshot. As the live client does, the events that
    arrive while the answer is being listed are held and follow the snapshot, and the resync moment is the
    Timestamp of the last event before the answer (else the replay's receive time)."""

    def __init__(self) -> None:
        self.fallback = 0.0
        self.last_stamp: float | None = None
        self.listing: RecordedList | None = None

    def take(self, pairs: list[tuple[str, str]]) -> list[AmiEvent | ConnectionUp]:
        headers = dict(pairs)
        if not self.fallback:
            self.fallback = _first_epoch(headers) or 0.0
        action_id = headers.get("ActionID")
        if action_id is not None:
            return self._answer(action_id, headers)
        if "Event" not in headers:
            return []
        event = to_event(pairs, self.fallback)
        if self.listing is not None:
            self.listing.held.append(event)
            return []
        self.last_stamp = event.timestamp
        return [event]

    def finish(self) -> list[AmiEvent | ConnectionUp]:
        """The trace ended: events held by an unfinished answer are still events."""
        listing, self.listing = self.listing, None
        return list(listing.held) if listing is not None else []

    def _answer(self, action_id: str, headers: dict[str, str]) -> list[AmiEvent | ConnectionUp]:
        listing = self.listing
        if listing is None:
            if headers.get("EventList") == "start":
                moment = self.last_stamp if self.last_stamp is not None else self.fallback
                self.listing = RecordedList(action_id, moment)
            return []
        if action_id != listing.action_id:
            return []
        if headers.get("Event") == "CoreShowChannel":
            listing.channels.append({key: value for key, value in headers.items() if key not in _LIST_KEYS})
        if headers.get("EventList") != "Complete":
            return []
        self.listing = None
        return [*listing.resync(headers.get("Event") == "CoreShowChannelsComplete"), *listing.held]


_LIST_KEYS = frozenset({"Event", "ActionID"})


@dataclass(slots=True)
class RecordedList:
    """An action's list answer being read: its entries, and the events that arrived meanwhile."""

    action_id: str
    moment: float
    channels: list[dict[str, str]] = field(default_factory=list)
    held: list[AmiEvent] = field(default_factory=list)

    def resync(self, is_channels: bool) -> list[ConnectionUp]:
        """The ConnectionUp of a complete CoreShowChannels answer (none for any other list)."""
        if not is_channels:
            return []
        moment = self.moment or next((epoch for entry in self.channels if (epoch := _first_epoch(entry))), 0.0)
        return [ConnectionUp(at=moment, resync_at=moment, channels=tuple(self.channels))]


def _first_epoch(headers: Mapping[str, str]) -> float | None:
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


def is_event(pairs: list[tuple[str, str]]) -> bool:
    """An event frame that is no part of an action's answer (those carry the action's ActionID)."""
    keys = {key for key, _ in pairs}
    return "Event" in keys and "ActionID" not in keys


def trace_events(data: bytes) -> list[TraceEvent]:
    """The event frames of a trace with their raw bytes; the banner, responses (with the events listed in
    them) and malformed frames are left out."""
    decoder = FrameDecoder()
    events: list[TraceEvent] = []
    for chunk in normalise_line_endings(data).split(b"\r\n\r\n"):
        raw = chunk.strip(b"\r\n")
        pairs = decoder.feed(raw + b"\r\n\r\n") if raw else []
        if pairs and is_event(pairs[0]):
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
