"""Reading `.ami` trace files (the raw AMI byte stream, CRLF kept, banner first)."""

from __future__ import annotations

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
    Uniqueid seen in the trace, never advancing (DESIGN.md §2), so replay is deterministic.
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
