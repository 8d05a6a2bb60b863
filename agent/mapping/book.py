"""The tracker's memory (channels and calls by id) and how it turns call state into system events."""

from __future__ import annotations

from collections import OrderedDict
from types import MappingProxyType
from zoneinfo import ZoneInfo

from agent.mapping import outcome, params
from agent.mapping.calls import Call, Leg
from agent.mapping.catalog import SystemEvent
from agent.mapping.channels import Channel, Kind
from agent.mapping.config import MappingConfig, Rater
from agent.mapping.outcome import LegView, Outcome

# How many completed call ids are remembered, so that a Linkedid seen again (an Originate reusing its
# ChannelId, a straggler after a stuck call expired) gets event_ids of its own.
FINISHED_MEMORY = 10_000


class Book:
    """Channels by Uniqueid and calls by Linkedid; everything of a completed call is forgotten but its id."""

    def __init__(self, config: MappingConfig) -> None:
        self.config = config
        self.zone = ZoneInfo(config.timezone)
        self.channels: dict[str, Channel] = {}
        self.calls: dict[str, Call] = {}
        self.rater: Rater | None = None
        self.hangups = 0
        self.lost_at: float | None = None
        self.cdr_seen = False  # this link carries Cdr events (cdr_manager): calls after a resync may wait for theirs
        self.awaiting: dict[str, None] = {}  # calls complete but waiting for their Cdr (an ordered set)
        self.finished: OrderedDict[str, int] = OrderedDict()
        self.closed: list[str] = []  # calls forgotten since the tracker's last `take_changes()`
        self.links: list[tuple[str, str]] = []  # (from, to): a channel moved between calls, same period

    def call_for(self, call_id: str, time: float) -> Call:
        """The call of this Linkedid, created on first sight."""
        call = self.calls.get(call_id)
        if call is None:
            call = Call(call_id, time, time, start=time, generation=self.finished.get(call_id, 0))
            self.calls[call_id] = call
        return call

    def caller(self, call: Call) -> Channel | None:
        return self.channels.get(call.caller) if call.caller else None

    def attach(self, call: Call, channel: Channel) -> None:
        """Count a channel in a call (alive parties keep the call open)."""
        call.channels.add(channel.uniqueid)
        if channel.hungup:
            return
        if channel.kind is Kind.INTERNAL:
            call.alive_internal.add(channel.uniqueid)
        else:
            call.alive.add(channel.uniqueid)
            call.had_party = True

    def detach(self, call: Call, channel: Channel) -> None:
        call.channels.discard(channel.uniqueid)
        call.alive.discard(channel.uniqueid)
        call.alive_internal.discard(channel.uniqueid)

    def set_caller(self, call: Call, channel: Channel, number: bool = True) -> None:
        """Make `channel` the call's caller; the call starts at the caller's first event."""
        call.caller = channel.uniqueid
        call.start = channel.created
        if number and not call.called_number:
            call.called_number = channel.exten
        if call.trunk == "" and channel.kind is Kind.TRUNK:
            call.trunk = channel.where.endpoint

    def forget(self, call: Call) -> None:
        """Drop a completed call and all its channels."""
        for uniqueid in call.channels:
            self.channels.pop(uniqueid, None)
        self.calls.pop(call.call_id, None)
        self.closed.append(call.call_id)
        self.finished[call.call_id] = call.generation + 1
        self.finished.move_to_end(call.call_id)
        if len(self.finished) > FINISHED_MEMORY:
            self.finished.popitem(last=False)

    def leg_event(self, call: Call, name: str, leg: Leg, time: float, ended: bool = False) -> SystemEvent:
        """A per-leg system event (call_incoming, ringing, call_hangup)."""
        return self.event(call, name, outcome.leg_view(leg, time, ended), None, time)

    def completion(self, call: Call, end: float) -> SystemEvent:
        """The completion event (call_answered / call_unanswered) of a call that ended at `end`."""
        decided = outcome.decide(call, self.caller(call), self.channels, end, self.rater)
        return self.event(call, decided.name, decided.reported, decided, end)

    def event(self, call: Call, name: str, view: LegView, decided: Outcome | None, time: float) -> SystemEvent:
        """Build one system event with every parameter, and its stable event_id."""
        caller = self.caller(call)
        seen = decided.facts if decided is not None else outcome.facts(call, caller)
        values = params.assemble(
            name, params.call_values(call, caller, seen, self.config), view, decided, params.clock(time, self.zone)
        )
        values["event_id"] = f"{call.key}:{name}:{view.extension}:{call.next_seq()}"
        return SystemEvent(name=name, call_id=call.call_id, params=MappingProxyType(values))
