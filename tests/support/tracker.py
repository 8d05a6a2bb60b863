"""Builders of AMI events for tracker tests (the header sets Asterisk 22 sends, trimmed to what matters), and the
golden traces with the tracker run over each alone."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from agent.ami.events import AmiEvent
from agent.devtools.channel_table import ChannelTable
from agent.devtools.replay import fixture_config
from agent.devtools.trace import MessageReader, normalise_line_endings, read_events, read_frames
from agent.devtools.trace import trace_events as trace_event_frames
from agent.mapping.catalog import SystemEvent
from agent.mapping.config import MappingConfig
from agent.mapping.tracker import CallTracker
from tests.support.paths import TRACES

T0 = 1795872000.0
GOLDEN = sorted(trace for trace in TRACES.glob("*.ami") if trace.with_name(trace.stem + ".expected.jsonl").is_file())
# Durations may differ by 1 s near x.5 s (rounding of microsecond timestamps; see docs/traces.md).
TOLERANT = frozenset({"duration", "talk_duration"})
Rename = Callable[[str], str]
Emitted = list[tuple[str, str, dict[str, str]]]


def event(name: str, time: float, **headers: str) -> AmiEvent:
    """An AMI event with a Timestamp header; keyword names are AMI header names."""
    full = {"Event": name, "Timestamp": f"{time:.6f}", **headers}
    return AmiEvent(headers=full, received_at=time)


def with_variables(item: AmiEvent, **variables: str) -> AmiEvent:
    """The same event carrying `ChanVariable: NAME=value` headers."""
    return replace(item, variables=MappingProxyType(variables))


def chan(prefix: str, name: str, uid: str, linked: str, state: int = 0, **extra: str) -> dict[str, str]:
    """The channel header block (`prefix` "Dest" for the dialed channel of a Dial event)."""
    number = name.split("/", 1)[-1].rsplit("-", 1)[0]
    base = {
        "Channel": name,
        "ChannelState": str(state),
        "CallerIDNum": number,
        "CallerIDName": f"Phone {number}",
        "Context": "internal",
        "Exten": "s",
        "Uniqueid": uid,
        "Linkedid": linked,
        **extra,
    }
    return {prefix + key: value for key, value in base.items()}


def newchannel(time: float, name: str, uid: str, linked: str, state: int = 0, **extra: str) -> AmiEvent:
    return event("Newchannel", time, **chan("", name, uid, linked, state, **extra))


def newstate(time: float, name: str, uid: str, linked: str, state: int) -> AmiEvent:
    return event("Newstate", time, **chan("", name, uid, linked, state))


def hangup(time: float, name: str, uid: str, linked: str, cause: str = "16") -> AmiEvent:
    return event("Hangup", time, Cause=cause, **chan("", name, uid, linked, 6))


Party = tuple[str, str, str]


def dial(kind: str, time: float, caller: Party | None, dest: Party, **extra: str) -> AmiEvent:
    """DialBegin/DialState/DialEnd from `caller` (name, uid, linkedid; None = Originate) to `dest`."""
    headers = chan("Dest", *dest)
    if caller is not None:
        headers.update(chan("", *caller, state=4))
    headers.update(extra)
    return event(kind, time, **headers)


def feed_all(tracker: CallTracker, events: list[AmiEvent]) -> list[SystemEvent]:
    emitted: list[SystemEvent] = []
    for item in events:
        emitted += tracker.feed(item)
    return emitted


def trace_events(stem: str) -> list[AmiEvent]:
    return read_events(TRACES / f"{stem}.ami")


def names(events: list[SystemEvent]) -> list[tuple[str, str]]:
    return [(item.name, item.params["extension"]) for item in events]


def internal_call(uid_a: str, uid_b: str, start: float = T0) -> tuple[list[AmiEvent], list[AmiEvent]]:
    """201 calls 202, 202 answers: (events up to the answer, the two hangups)."""
    a = ("PJSIP/201-00000001", uid_a, uid_a)
    b = ("PJSIP/202-00000002", uid_b, uid_a)
    up_to_answer = [
        newchannel(start, *a, state=4, Exten="202"),
        newchannel(start + 0.001, *b),
        dial("DialBegin", start + 0.002, a, b, DialString="202"),
        newstate(start + 0.003, *b, state=5),
        newstate(start + 2, *b, state=6),
        dial("DialEnd", start + 2, a, b, DialStatus="ANSWER"),
    ]
    hangups = [hangup(start + 5, *a), hangup(start + 5.001, *b)]
    return up_to_answer, hangups


def index_of(events: list[AmiEvent], name: str, channel: str = "", nth: int = 0, **headers: str) -> int:
    """The index of the `nth` event called `name` whose Channel starts with `channel` and that has `headers`."""
    found = [
        n
        for n, item in enumerate(events)
        if item.name == name
        and item.get("Channel").startswith(channel)
        and all(item.get(key) == value for key, value in headers.items())
    ]
    return found[nth]


def reconnect_replay(
    events: list[AmiEvent], lost: int, back: int, config: MappingConfig, before: Sequence[AmiEvent] = ()
) -> list[SystemEvent]:
    """What the agent emits when its link drops after `events[:lost]` and logs in again before `events[back]`
    (see `reconnect`), up to the end of the stream."""
    tracker = CallTracker(config)
    return reconnect(tracker, events, lost, back, before) + tracker.drain()


def reconnect(
    tracker: CallTracker, events: list[AmiEvent], lost: int, back: int, before: Sequence[AmiEvent] = ()
) -> list[SystemEvent]:
    """Feed `tracker` as a reconnect would: the events in `events[lost:back]` are missed; the resync gets the
    CoreShowChannels snapshot the PBX would have answered then (the channels live after `events[:back]`) at the
    resync moment (the last missed event's time). `before` is what the agent saw earlier on the same link."""
    emitted = feed_all(tracker, [*before, *events[:lost]])
    tracker.connection_lost(events[lost - 1].time)
    table = ChannelTable()
    for item in [*before, *events[:back]]:
        table.apply(item.headers, item.timestamp)
    emitted += tracker.resync(table.snapshot(), events[back - 1].time)
    return emitted + feed_all(tracker, events[back:])


def late_login(data: bytes, back: int, action_id: str = "resync-1") -> bytes:
    """A trace as an agent that logged in just before its event `back` would have recorded it: the original
    banner, Login answer and FullyBooted, its own SuccessfulAuth stamped with the last missed event's time, the
    answer to its CoreShowChannels (the channels live then, as the PBX lists them, with the first event after
    the login arriving between the first two entries), and the original frames from event `back` on."""
    frames = [frame for frame in normalise_line_endings(data).split(b"\r\n\r\n") if frame.strip()]
    head = frames[:3]  # banner + Login answer, FullyBooted, SuccessfulAuth (the recorder's own login)
    raws = [event.raw for event in trace_event_frames(data)]
    events = read_events_of(data)
    table = ChannelTable()
    for item in events[:back]:
        table.apply(item.headers, item.timestamp)
    moment = events[back - 1].time
    auth = re.sub(rb"Timestamp: [0-9.]+", b"Timestamp: %.6f" % moment, head[2])
    answer = [frame_of([("Response", "Success"), ("ActionID", action_id), ("EventList", "start"),
                        ("Message", "Channels will follow")])]
    entries = [frame_of([("Event", "CoreShowChannel"), ("ActionID", action_id), *entry.items()])
               for entry in table.snapshot()]
    complete = frame_of([("Event", "CoreShowChannelsComplete"), ("ActionID", action_id), ("EventList", "Complete"),
                         ("ListItems", str(len(entries)))])
    listed = [*answer, entries[0], raws[back], *entries[1:], complete]
    return b"\r\n\r\n".join([*head[:2], auth, *listed, *raws[back + 1 :]]) + b"\r\n\r\n"


def frame_of(pairs: Sequence[tuple[str, str]]) -> bytes:
    return "\r\n".join(f"{key}: {value}" for key, value in pairs).encode()


def read_events_of(data: bytes) -> list[AmiEvent]:
    """The events of trace bytes, as replay reads them."""
    reader = MessageReader()
    frames, _ = read_frames(data)
    messages = [message for pairs in frames for message in reader.take(pairs)]
    return [message for message in [*messages, *reader.finish()] if isinstance(message, AmiEvent)]


def run(events: Iterable[AmiEvent], config: MappingConfig) -> list[SystemEvent]:
    """What one tracker emits for `events`, in order."""
    tracker = CallTracker(config)
    return [emitted for event in events for emitted in tracker.feed(event)]


def solo(trace: Path) -> list[SystemEvent]:
    """What the tracker emits for the trace alone, with the trace's own mapping settings."""
    return run(read_events(trace), fixture_config(trace))


def comparable(events: Iterable[SystemEvent], rename: Rename = str) -> Emitted:
    """(event, call_id, params) with the call id (also inside event_id) passed through `rename`."""
    out = []
    for event in events:
        params = dict(event.params)
        call_id = rename(event.call_id)
        params["call_id"] = call_id
        params["event_id"] = call_id + params["event_id"].removeprefix(event.call_id)
        out.append((event.name, call_id, params))
    return out


def expected_lines(trace: Path) -> list[dict[str, Any]]:
    """The golden file of `trace`: one {"event", "params"} record per system event."""
    text = trace.with_name(trace.stem + ".expected.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def near(key: str, expected: str, ours: str | None) -> bool:
    """Whether `ours` is within the 1 s a TOLERANT parameter may differ by."""
    if key not in TOLERANT or ours is None or not (ours.isdigit() and expected.isdigit()):
        return False
    return abs(int(ours) - int(expected)) <= 1


def mismatches(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """The expected parameters our event does not match (durations allow +-1 s)."""
    return [
        f"{key}: expected {value!r}, got {actual.get(key)!r}"
        for key, value in expected.items()
        if actual.get(key) != value and not near(key, value, actual.get(key))
    ]
