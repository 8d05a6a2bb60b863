"""Resync gaps of the tracker, found by the fault tests.

1. Events that arrive between the login and the CoreShowChannels answer (a real PBX streams events as soon as
the login succeeds) must not cost a call its completion event.

Found by test_kill9 (the agent restarted while calls were being dialled): the tracker learnt the callee's
channel and the call from these early events but not the caller; the resync adopted only the channels it did
not know, so the leg offered by the early DialBegin was never rebuilt and the call completed with no event.
Fixed in the tracker (commit 4602237); these cases keep it fixed.
The agent connects at event `s`; events `s .. s+j-1` reach the tracker before the snapshot, which is taken
after them (as the simulator and Asterisk do); the call is live in that snapshot and completes later.

2. A DialBegin missed while the link was down, for a call whose channels the tracker already knew (found by the
soak's AMI-peer kills): the resync adopts only unknown channels, so the AppDial channel in the snapshot does not
become a leg, and the BUSY call that follows ends with no call_hangup and no completion event.
"""

from __future__ import annotations

import pytest

from agent.ami.events import AmiEvent
from agent.devtools.channel_table import ChannelTable
from agent.devtools.trace import trace_events
from agent.mapping.catalog import CALL_ANSWERED, CALL_UNANSWERED, SystemEvent
from agent.mapping.config import MappingConfig
from agent.mapping.tracker import CallTracker
from tests.reliability.synth import trace_path


def reconnect(name: str, lost: int, back: int) -> list[SystemEvent]:
    """The tracker follows the trace until event `lost`, misses events up to `back`, resyncs, goes on."""
    events = trace_events(trace_path(name).read_bytes())
    table = ChannelTable()
    for event in events[:back]:
        table.apply(event.headers, event.timestamp)
    tracker = CallTracker(MappingConfig())
    emitted = [e for event in events[:lost] for e in tracker.feed(AmiEvent(headers=event.headers, received_at=0.0))]
    tracker.connection_lost(events[lost - 1].timestamp or 0.0)
    emitted += tracker.resync(table.snapshot(), events[back - 1].timestamp or 0.0)
    return emitted + [e for event in events[back:] for e in tracker.feed(AmiEvent(headers=event.headers,
                                                                                   received_at=0.0))]


def connect_at(name: str, start: int, early: int) -> list[SystemEvent]:
    """A fresh tracker joins the trace at event `start`, with `early` events before its snapshot."""
    events = trace_events(trace_path(name).read_bytes())
    table = ChannelTable()
    for event in events[: start + early]:
        table.apply(event.headers, event.timestamp)
    tracker = CallTracker(MappingConfig())
    emitted: list[SystemEvent] = []
    for index, event in enumerate(events[start:], start):
        if index == start + early:
            emitted += tracker.resync(table.snapshot(), events[index - 1].timestamp or 0.0)
        emitted += tracker.feed(AmiEvent(headers=event.headers, received_at=0.0))
    return emitted


class TestResyncRace:
    @pytest.mark.parametrize(("name", "start", "early"), [
        ("01_internal_answered_caller_hangup", 17, 0),
        ("04_internal_busy_486", 17, 0),
        ("10_inbound_queue_204_answers", 92, 0),
    ])
    def test_snapshot_first(self, name: str, start: int, early: int) -> None:
        """Given the agent joining mid-call with the snapshot before any event, when the call ends, then exactly
        one completion event (the adopted call)."""
        done = [e for e in connect_at(name, start, early) if e.name in (CALL_ANSWERED, CALL_UNANSWERED)]
        assert [e.params["adopted"] for e in done] == ["1"]

    @pytest.mark.parametrize(("name", "start", "early"), [
        ("01_internal_answered_caller_hangup", 17, 5),
        ("04_internal_busy_486", 17, 5),
        ("08_outbound_trunk_answered", 17, 10),
        ("10_inbound_queue_204_answers", 92, 5),
    ])
    def test_events_before_snapshot(self, name: str, start: int, early: int) -> None:
        """Given the agent joining mid-call with a few events (the callee's Newchannel, the DialBegin) before
        the snapshot, when the call ends, then exactly one completion event."""
        done = [e for e in connect_at(name, start, early) if e.name in (CALL_ANSWERED, CALL_UNANSWERED)]
        assert len(done) == 1


class TestMissedDialBegin:
    def test_known_caller_unknown_callee(self) -> None:
        """Given the link lost before the callee's channel existed and back while it rings, when the busy call
        ends, then the adopted leg gives call_hangup and call_unanswered."""
        names = [e.name for e in reconnect("04_internal_busy_486", 10, 28)]
        assert names[-2:] == ["call_hangup", "call_unanswered"]

    def test_known_channels_dial_missed(self) -> None:
        """Given both channels seen (Newchannel) before the link is lost, and the DialBegin missed, when the
        link is back while the callee rings and the call ends busy, then call_hangup and call_unanswered."""
        names = [e.name for e in reconnect("04_internal_busy_486", 20, 28)]
        assert names[-2:] == ["call_hangup", "call_unanswered"]
