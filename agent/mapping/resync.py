"""Resync after a (re)login: reconcile the calls we hold with CoreShowChannels, adopt the ones we missed."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from agent.mapping import completion
from agent.mapping.book import Book
from agent.mapping.calls import Call, Leg, TrunkLeg
from agent.mapping.catalog import SystemEvent
from agent.mapping.channels import STATE_RINGING, STATE_UP, Channel, Kind, trunk_number
from agent.mapping.lifecycle import make_channel, pair_local, parse_state

Headers = Mapping[str, str]
# The applications that dial legs, and what their outgoing channels run ("(Outgoing Line)"): Dial and Queue.
DIALING_APPS = frozenset({"Dial", "Queue"})
OUTGOING_APPS = frozenset({"AppDial", "AppQueue"})


def resync(book: Book, snapshot: Sequence[Headers], at: float) -> list[SystemEvent]:
    """Complete calls whose channels vanished (reconciled), adopt the calls with live channels we do not know,
    and rebuild the legs whose dialing we missed.

    A call with unknown channels started before we connected. Events between the login and the snapshot may
    have shown some of its channels already (a callee's Newchannel, a DialBegin from a caller we never saw): it
    is adopted from all its live channels, so its caller and legs are rebuilt all the same. In a call we know,
    an outgoing channel (AppDial) that is no leg yet was dialed while the link was down: it becomes one too.
    """
    live = {uid: headers for headers in snapshot if (uid := headers.get("Uniqueid", "")) and headers.get("Linkedid")}
    events = completion.release(book, math.inf)  # a Cdr still awaited was lost with the link
    for call in list(book.calls.values()):
        events += reconcile(book, call, live, at)
    everyone = by_linkedid(list(live.values()))
    unknown = [headers for uid, headers in live.items() if uid not in book.channels]
    for linkedid in by_linkedid(unknown):
        adopt(book, linkedid, everyone[linkedid], at)
    for linkedid, group in everyone.items():
        if (held := book.calls.get(linkedid)) is not None:
            rebuild_legs(book, held, group, at)
    for call in book.calls.values():
        call.gap = True
    return events


def reconcile(book: Book, call: Call, live: Mapping[str, Headers], at: float) -> list[SystemEvent]:
    """Channels missing from the snapshot hung up while we were away; the call may be complete.

    A call none of whose channels is alive any more is complete too, even when nothing vanished now (its
    last channel was moved to it after hanging up, by an out-of-order event): a resync leaves no stale call.
    """
    vanished = [
        channel
        for uid in call.channels
        if (channel := book.channels.get(uid)) is not None and not channel.hungup and uid not in live
    ]
    for channel in vanished:
        channel.hungup = True
        call.alive.discard(channel.uniqueid)
        call.alive_internal.discard(channel.uniqueid)
    if not completion.is_complete(call):
        return []
    call.reconciled = True
    return completion.finish(book, call, at, end_of_vanished_call(book, call, at))


def end_of_vanished_call(book: Book, call: Call, at: float) -> float:
    """The last moment we knew the call was up: when the link was lost, else the resync moment."""
    lost = book.lost_at
    return lost if lost is not None and call.start <= lost <= at else at


def by_linkedid(snapshot: Sequence[Headers]) -> dict[str, list[Headers]]:
    groups: dict[str, list[Headers]] = {}
    for headers in snapshot:
        groups.setdefault(headers.get("Linkedid", ""), []).append(headers)
    return groups


def parse_duration(raw: str) -> float:
    """CoreShowChannel `Duration` (`HH:MM:SS`, or plain seconds) in seconds."""
    seconds = 0.0
    for part in raw.strip().split(":"):
        if not part.isdigit():
            return 0.0
        seconds = seconds * 60 + int(part)
    return seconds


def adopt(book: Book, linkedid: str, group: list[Headers], at: float) -> None:
    """Rebuild a call from its live channels (no past events): caller runs Dial/Queue, AppDial/AppQueue are legs.

    A call we followed from its caller's start (a reconnect into it) only gains the channels created while we
    were away: it is not adopted.
    """
    call = book.calls.get(linkedid)
    if call is None:
        start = at - max(parse_duration(headers.get("Duration", "")) for headers in group)
        call = book.call_for(linkedid, start)
    call.adopted = call.adopted or not call.caller
    channels = [adopt_channel(book, call, headers, at) for headers in group]
    if not call.caller:
        choose_caller(book, call, group, channels)


def rebuild_legs(book: Book, call: Call, group: list[Headers], at: float) -> None:
    """The call's live outgoing channels (AppDial, AppQueue) whose DialEnd we did not see are its legs, in the
    state the snapshot shows (a channel Up now answered while we were away, at the resync moment)."""
    caller_data = next((h.get("ApplicationData", "") for h in group if h.get("Uniqueid") == call.caller), "")
    for headers in group:
        channel = book.channels.get(headers.get("Uniqueid", ""))
        if channel is None or channel.linkedid != call.call_id or channel.dialend_status:
            continue
        if headers.get("Application") in OUTGOING_APPS:
            channel.state = parse_state(headers.get("ChannelState", "")) or channel.state
            rebuild_leg(book, call, channel, trunk_number(caller_data, book.config), at)


def adopt_channel(book: Book, call: Call, headers: Headers, at: float) -> Channel:
    """The channel of a snapshot line: the one we know already (seen since the login), else a new one."""
    uniqueid = headers.get("Uniqueid", "")
    known = book.channels.get(uniqueid)
    if known is not None:
        return known
    channel = make_channel(book, headers, uniqueid, at - parse_duration(headers.get("Duration", "")))
    book.channels[uniqueid] = channel
    book.attach(call, channel)
    pair_local(book, call, channel)
    return channel


def choose_caller(book: Book, call: Call, group: list[Headers], channels: list[Channel]) -> None:
    """The channel running Dial (or Queue), else the channel whose Uniqueid is the Linkedid."""
    parties = [(h, c) for h, c in zip(group, channels, strict=True) if c.kind is not Kind.INTERNAL]
    dialing = [c for h, c in parties if h.get("Application") in DIALING_APPS]
    rooted = [c for _, c in parties if c.uniqueid == call.call_id]
    chosen = next(iter(dialing or rooted), None)
    if chosen is not None:
        book.set_caller(call, chosen)


def rebuild_leg(book: Book, call: Call, channel: Channel, number: str, at: float) -> None:
    """An AppDial (AppQueue) channel: Up = answered at the resync moment, Ringing = ringing, else offered."""
    answered_at = at if channel.state == STATE_UP else None
    if channel.kind is Kind.TRUNK:
        rebuild_trunk_leg(call, channel, number, answered_at)
        return
    if channel.kind is Kind.EXTENSION:
        rebuild_extension_leg(call, channel, answered_at)


def rebuild_trunk_leg(call: Call, channel: Channel, number: str, answered_at: float | None) -> None:
    """A trunk AppDial channel: its trunk leg, answered now if it is Up and we had not seen it answer."""
    fresh = TrunkLeg(channel.where.endpoint, channel.uniqueid, number or channel.exten)
    leg = call.trunk_legs.setdefault(channel.uniqueid, fresh)
    if answered_at is not None and leg.answered_at is None:
        leg.answered_at, leg.dial_status, leg.answer_inferred = answered_at, leg.dial_status or "ANSWER", True
        call.answers += 1
    call.trunk = call.trunk or channel.where.endpoint


def rebuild_extension_leg(call: Call, channel: Channel, answered_at: float | None) -> None:
    """Every AppDial channel of the extension belongs to its leg (one per contact of a multi-contact endpoint)."""
    extension = channel.where.extension
    leg = call.legs.setdefault(extension, Leg(extension, channel.uniqueid, channel.created))
    leg.ringing = leg.ringing or channel.state == STATE_RINGING
    call.leg_by_channel[channel.uniqueid] = extension
    if answered_at is None:
        leg.dialing[channel.uniqueid] = None
    elif leg.answered_at is None:
        leg.channel, leg.answered_at, leg.answer_inferred = channel.uniqueid, answered_at, True
        call.answers += 1
