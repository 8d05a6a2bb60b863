"""Builders of AMI events for tracker tests (the header sets Asterisk 22 sends, trimmed to what matters)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

from agent.ami.events import AmiEvent
from agent.devtools.trace import read_events
from agent.mapping.catalog import SystemEvent
from agent.mapping.tracker import CallTracker

FIXTURES = Path(__file__).parent / "fixtures"
TRACES = FIXTURES / "ami_traces"
T0 = 1795872000.0


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
