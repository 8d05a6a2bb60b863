"""Synthesise AMI streams from the recorded traces: fresh ids, many calls in progress at once, and the golden
deliveries that go with them.

A copy `n` of a trace gets every `*Uniqueid`/`*Linkedid` sequence number moved by `n * 1,000,000` (as
`agent.devtools.trace.renumbered` does) and every channel name suffix (`PJSIP/201-0000002a`, `Local/...-0000000c;1`)
moved by `n * 0x100000`, so no two copies share a channel id or a channel name, as on a real PBX. Timestamps are
kept, so each copy's durations are those of its golden file. Interleaving copies frame by frame puts all their
calls in progress at the same time.

The expected system events of a copy are its golden lines (read by hand from the trace, see the fixtures' .md
files) with the call id renumbered the same way: nothing here is copied from what the agent printed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.devtools.trace import normalise_line_endings, renumbered, trace_events
from tests.support.paths import TRACES

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
# As in the recordings, the banner is followed by the recorder's Login answer (the simulator skips responses;
# an event right after the banner line would be read by trace_events with the banner stuck to its front).
HEAD = BANNER + b"Response: Success\r\nActionID: rec-login-1\r\nMessage: Authentication accepted\r\n\r\n"
SEP = b"\r\n\r\n"
ID_SPACE = 1_000_000
NAME_SPACE = 0x100000
_NAME_LINE = re.compile(rb"^(\w*Channel: [^\r\n]*-)([0-9a-f]{8})(?=(?:;[12])?(?:<ZOMBIE>)?\r?$)", re.MULTILINE)
_CALL_KEYS = frozenset({"Uniqueid", "DestUniqueid"})

# Asterisk 22 recordings: one lab, default mapping settings (no .settings.json sidecar), every kind of call.
LAB_TRACES = (
    "01_internal_answered_caller_hangup", "03_internal_no_answer_timeout", "04_internal_busy_486",
    "05_internal_caller_cancel", "07_inbound_trunk_answered", "08_outbound_trunk_answered",
    "09_inbound_ringgroup_203_answers", "10_inbound_queue_204_answers",
)  # fmt: skip
LOAD_TRACE = "13_load_mixed_35_calls"


def trace_path(name: str) -> Path:
    return TRACES / f"{name}.ami"


@dataclass(frozen=True, slots=True)
class Expected:
    """One golden system event: its key, call id, extension (and the other golden parameters)."""

    event: str
    call_id: str
    extension: str
    params: dict[str, str]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.event, self.call_id, self.extension)


def renumber_id(value: str, copy: int) -> str:
    """A Uniqueid/Linkedid as it appears in copy `copy` (`[system-]epoch.seq`)."""
    head, _, seq = value.rpartition(".")
    return f"{head}.{int(seq) + copy * ID_SPACE}" if copy and seq.isdigit() else value


def fresh_copy(data: bytes, copy: int) -> bytes:
    """The trace bytes with fresh channel ids and names for copy `copy` (0: unchanged)."""
    data = renumbered(normalise_line_endings(data), copy, 0.0)
    if not copy:
        return data
    shift = copy * NAME_SPACE
    return _NAME_LINE.sub(lambda m: m[1] + b"%08x" % ((int(m[2], 16) + shift) & 0xFFFFFFFF), data)


def call_frames(data: bytes) -> list[bytes]:
    """The raw frames of a trace that concern a channel (no banner, responses, FullyBooted or auth events)."""
    return [event.raw for event in trace_events(data) if _CALL_KEYS & set(event.headers)]


def interleave(streams: Sequence[Sequence[bytes]]) -> Iterator[bytes]:
    """Round robin over the streams, one frame each in turn, keeping each stream's own order."""
    longest = max((len(stream) for stream in streams), default=0)
    for index in range(longest):
        for stream in streams:
            if index < len(stream):
                yield stream[index]


def concurrent_stream(traces: Sequence[Path], copies: int) -> bytes:
    """A trace in which `copies` fresh copies of each trace run at once (banner first, frames interleaved)."""
    streams = [call_frames(fresh_copy(path.read_bytes(), copy)) for copy in range(copies) for path in traces]
    return HEAD + b"".join(frame + SEP for frame in interleave(streams))


def golden(path: Path) -> list[Expected]:
    """The golden events of a trace, in emission order."""
    lines = path.with_name(path.stem + ".expected.jsonl").read_text(encoding="utf-8").splitlines()
    docs = [json.loads(line) for line in lines if line.strip()]
    return [Expected(doc["event"], doc["params"]["call_id"], doc["params"].get("extension", ""), doc["params"])
            for doc in docs]


def golden_copies(traces: Iterable[Path], copies: Iterable[int]) -> list[Expected]:
    """The golden events of every copy of every trace (emission order within each call)."""
    base = [(path, golden(path)) for path in traces]
    return [
        Expected(item.event, renumber_id(item.call_id, copy), item.extension,
                 {**item.params, "call_id": renumber_id(item.call_id, copy)})
        for copy in copies
        for _, items in base
        for item in items
    ]


def call_count(traces: Iterable[Path]) -> int:
    """Calls in one pass over the traces: one completion event each."""
    return sum(1 for path in traces for item in golden(path) if item.event in ("call_answered", "call_unanswered"))
