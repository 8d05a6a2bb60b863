"""CallTracker: AMI events in, system events out (docs/call-model.md). Pure: no I/O, time comes from the events."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from agent.ami.events import AmiEvent
from agent.mapping import cdr, completion, dialing, dialplan, lifecycle, resync
from agent.mapping.book import Book
from agent.mapping.catalog import SystemEvent
from agent.mapping.config import MappingConfig, Rater
from agent.mapping.dialplan import APPLICATIONS, VARIABLES, variable_name

Handler = Callable[[Book, AmiEvent], list[SystemEvent]]

# Frequent events that never change the call model: dropped before any lookup.
NOISE = frozenset(
    {
        "RTCPSent",
        "RTCPReceived",
        "CEL",
        "DeviceStateChange",
        "ExtensionStatus",
        "PresenceStateChange",
        "QueueMemberStatus",
        "ContactStatus",
        "PeerStatus",
        "Registry",
        "SuccessfulAuth",
        "ChallengeSent",
        "DTMFBegin",
        "DTMFEnd",
        "AGIExecStart",
        "AGIExecEnd",
        "AGIExec",
    }
)


Changes = tuple[Sequence[tuple[str, str]], Sequence[str]]
NO_CHANGES: Changes = ((), ())


_NOISE_PREFIXES = tuple(f"Event: {name}\r\n".encode() for name in sorted(NOISE))
_VARIABLE_NAMES = re.compile(b"|".join(re.escape(name.encode()) for name in sorted(VARIABLES)))


def skim(frame: bytes) -> str:
    """The name of an event the tracker never reads, judged on the frame's bytes before any parsing (the AMI
    client then keeps only its name and time), else "". Conservative: a VarSet naming DIALSTATUS or TENANT
    anywhere, or a Newexten naming Dial anywhere, is parsed in full."""
    if frame.startswith(b"Event: VarSet\r\n"):
        return "" if _VARIABLE_NAMES.search(frame) else "VarSet"
    if frame.startswith(b"Event: Newexten\r\n"):
        return "" if b"Dial" in frame else "Newexten"
    if frame.startswith(_NOISE_PREFIXES):
        return frame[7 : frame.index(b"\r\n")].decode()
    return ""


def log_key(event: AmiEvent) -> str:
    """The call an event is filed under in the tracker log (its Linkedid, else its DestLinkedid), or "" when
    the tracker would learn nothing from it (noise, other variables, dialplan steps other than Dial) or it
    names no call (a Cdr: only calls that lived through a resync read it, and a restart begins with one)."""
    name = event.name
    if name in NOISE:
        return ""
    if name == "VarSet" and variable_name(event.get("Variable")) not in VARIABLES:
        return ""
    if name == "Newexten" and event.get("Application") not in APPLICATIONS:
        return ""
    headers = event.headers
    return headers.get("Linkedid") or headers.get("DestLinkedid") or ""


def queue_event(book: Book, event: AmiEvent) -> list[SystemEvent]:
    """Queue events name the queue the call went through."""
    channel, events = lifecycle.touch(book, event)
    call = book.calls.get(channel.linkedid) if channel is not None else None
    if call is not None and not call.queue:
        call.queue = event.get("Queue")
    return events


def channel_event(book: Book, event: AmiEvent) -> list[SystemEvent]:
    """Any other event about a channel: refresh its caller id, follow a Linkedid change."""
    return lifecycle.touch(book, event)[1]


HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {
        "Newchannel": lifecycle.new_channel,
        "Newstate": lifecycle.new_state,
        "HangupRequest": lifecycle.hangup_request,
        "Hangup": lifecycle.hangup,
        "DialBegin": dialing.dial_begin,
        "DialState": dialing.dial_state,
        "DialEnd": dialing.dial_end,
        "Newexten": dialplan.new_exten,
        "VarSet": dialplan.var_set,
        "Cdr": cdr.cdr,
        "QueueCallerJoin": queue_event,
        "AgentCalled": queue_event,
        "QueueCallerAbandon": queue_event,
    }
)


class CallTracker:
    """Follows calls by Linkedid and emits the five system events; forgets each call when it completes."""

    def __init__(self, config: MappingConfig) -> None:
        self._book = Book(config)

    def feed(self, event: AmiEvent) -> list[SystemEvent]:
        """One AMI event in, the system events it causes out (in emission order)."""
        name = event.name
        book = self._book
        released = completion.release(book, event.time) if book.awaiting else []
        handler = HANDLERS.get(name)
        if handler is not None:
            return released + handler(book, event)
        if name in NOISE or "Uniqueid" not in event.headers:
            return released
        return released + channel_event(book, event)

    def connection_lost(self, at: float) -> list[SystemEvent]:
        """The AMI link dropped at `at`: events may be missing until the next resync."""
        self._book.lost_at = at
        return []

    def resync(self, channels: Sequence[Mapping[str, str]], at: float) -> list[SystemEvent]:
        """Apply a CoreShowChannels snapshot taken at `at` (the resync moment)."""
        events = resync.resync(self._book, channels, at)
        self._book.lost_at = None
        return events

    def expire(self, now: float) -> list[SystemEvent]:
        """Housekeeping at `now` (AMI time): complete the calls waiting for a Cdr past their wait, and the calls
        that started more than `stuck_call_seconds` ago (their hangup was never seen)."""
        book = self._book
        events = completion.release(book, now)
        limit = book.config.stuck_call_seconds
        for call in [call for call in book.calls.values() if now - call.start > limit]:
            events += completion.finish(book, call, now, now)
        return events

    def drain(self) -> list[SystemEvent]:
        """The stream ended (a replayed trace): calls still waiting for their Cdr complete now."""
        return completion.release(self._book, math.inf)

    def take_changes(self) -> Changes:
        """Since the last call: the channel moves between calls (from, to), then the calls completed and
        forgotten. The tracker log files a moved channel's past under its new call, and drops closed calls."""
        book = self._book
        if not book.links and not book.closed:
            return NO_CHANGES
        links, book.links = book.links, []
        closed, book.closed = book.closed, []
        return links, closed

    def open_calls(self) -> frozenset[str]:
        return frozenset(self._book.calls)

    def drop(self, call_id: str) -> None:
        """Forget a call without emitting anything (restoring from the tracker log: it completed already)."""
        call = self._book.calls.get(call_id)
        if call is not None:
            self._book.forget(call)

    @property
    def calls_in_progress(self) -> int:
        return len(self._book.calls)

    @property
    def tracked_channels(self) -> int:
        """Channels held in memory (live ones and hung-up ones of calls not yet complete)."""
        return len(self._book.channels)

    def set_rater(self, rater: Rater | None) -> None:
        """Price answered outbound calls with `rater` from now on (None: no rating)."""
        self._book.rater = rater
