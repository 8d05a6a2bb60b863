"""`event-agent replay TRACE`: feed a recorded AMI trace through the tracker and print the system events."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from agent.ami.events import AmiEvent, ConnectionUp
from agent.devtools.trace import read_messages
from agent.mapping.catalog import SystemEvent
from agent.mapping.config import MappingConfig, compile_mapping
from agent.mapping.tracker import CallTracker
from agent.settings import MappingSettings, Settings


def replay(trace: Path, config: MappingConfig) -> list[SystemEvent]:
    """Every system event a trace causes, in emission order (calls still waiting for a Cdr at the end of the
    trace complete then)."""
    tracker = CallTracker(config)
    emitted: list[SystemEvent] = []
    for message in read_messages(trace):
        emitted += feed(tracker, message)
    return emitted + tracker.drain()


def feed(tracker: CallTracker, message: AmiEvent | ConnectionUp) -> list[SystemEvent]:
    """One message as the daemon's pump takes it: an event, or a resync snapshot (a recorded CoreShowChannels
    answer) applied at its resync moment."""
    if isinstance(message, ConnectionUp):
        return [] if message.channels is None else tracker.resync(message.channels, message.resync_at)
    return tracker.feed(message)


def as_line(event: SystemEvent) -> str:
    """One JSON line: {"event": ..., "params": {...}} with sorted parameter keys."""
    params = {key: str(event.params[key]) for key in sorted(event.params)}
    return json.dumps({"event": event.name, "params": params}, ensure_ascii=False)


def write_lines(events: Iterable[SystemEvent], out: TextIO) -> None:
    for event in events:
        out.write(as_line(event) + "\n")


def replay_main(settings: Settings, trace: Path, out: TextIO) -> int:
    """The CLI entry: same mapping settings as the daemon; deterministic output."""
    write_lines(replay(trace, compile_mapping(settings.mapping)), out)
    return 0


def fixture_config(trace: Path) -> MappingConfig:
    """A fixture's mapping: its `NAME.settings.json` sidecar (MappingSettings fields), else defaults in UTC."""
    sidecar = trace.with_name(trace.name.removesuffix(".ami") + ".settings.json")
    fields = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
    fields.setdefault("timezone", "UTC")
    return compile_mapping(MappingSettings(**fields))
