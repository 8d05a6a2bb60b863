"""Channel lifecycle events: Newchannel, caller id and state changes, Linkedid moves, hangups."""

from __future__ import annotations

from collections.abc import Mapping

from agent.ami.events import AmiEvent
from agent.mapping import completion
from agent.mapping.book import Book
from agent.mapping.calls import Call, Leg
from agent.mapping.catalog import RINGING, SystemEvent
from agent.mapping.channels import STATE_RINGING, Channel, Kind, classify, local_base
from agent.mapping.dialplan import variable_name


def new_channel(book: Book, event: AmiEvent) -> list[SystemEvent]:
    """A Newchannel: remember it and count it in the call of its Linkedid (duplicates change nothing).

    Without a Linkedid (Asterisk 11 and older) no call can be formed, so the channel is not followed.
    """
    uniqueid = event.get("Uniqueid")
    if not uniqueid or not event.get("Linkedid") or uniqueid in book.channels:
        return []
    channel = make_channel(book, event.headers, uniqueid, event.time)
    book.channels[uniqueid] = channel
    call = book.call_for(channel.linkedid, event.time)
    book.attach(call, channel)
    pair_local(book, call, channel)
    if uniqueid == channel.linkedid and channel.kind is not Kind.INTERNAL and not call.caller:
        book.set_caller(call, channel)
    note_tenant(call, event.variables)
    return []


def make_channel(book: Book, headers: Mapping[str, str], uniqueid: str, time: float) -> Channel:
    name = headers.get("Channel", "")
    cid_name = headers.get("CallerIDName", "")
    return Channel(
        uniqueid=uniqueid,
        name=name,
        linkedid=headers.get("Linkedid") or uniqueid,
        where=classify(name, book.config),
        created=time,
        exten=headers.get("Exten", ""),
        context=headers.get("Context", ""),
        cid_num=headers.get("CallerIDNum", ""),
        cid_name=cid_name,
        first_cid_name=cid_name,
        state=parse_state(headers.get("ChannelState", "")),
    )


def parse_state(raw: str) -> int:
    return int(raw) if raw.isdigit() else 0


def pair_local(book: Book, call: Call, channel: Channel) -> None:
    """Link the two halves of a Local channel (`;1` and `;2` share a base name)."""
    if channel.where.tech.lower() != "local":
        return
    base = local_base(channel.name)
    for uniqueid in call.channels:
        other = book.channels.get(uniqueid)
        if other is not None and other is not channel and local_base(other.name) == base:
            other.partner, channel.partner = channel.uniqueid, other.uniqueid
            return


def note_tenant(call: Call, variables: Mapping[str, str]) -> None:
    """`ChanVariable: TENANT=x` (manager.conf channelvars), on any channel of the call; the first one counts."""
    if not call.tenant and variables:
        call.tenant = next((value for name, value in variables.items() if variable_name(name) == "TENANT"), "")


def touch(book: Book, event: AmiEvent, prefix: str = "") -> tuple[Channel | None, list[SystemEvent]]:
    """The channel an event is about (`prefix` "Dest" for the dialed one), refreshed; moves it on a new Linkedid."""
    headers = event.headers
    channel = book.channels.get(headers.get(prefix + "Uniqueid", ""))
    if channel is None:
        return None, []
    channel.cid_num = headers.get(prefix + "CallerIDNum", channel.cid_num)
    channel.cid_name = headers.get(prefix + "CallerIDName", channel.cid_name)
    events = relink(book, channel, headers.get(prefix + "Linkedid", ""), event.time)
    call = book.calls.get(channel.linkedid)
    if call is not None:
        call.last_time = event.time
        note_tenant(call, event.dest_variables if prefix else event.variables)
    return channel, events


def relink(book: Book, channel: Channel, linkedid: str, time: float) -> list[SystemEvent]:
    """Move a channel to the call of its new Linkedid; the call it leaves may now be complete."""
    if not linkedid or linkedid == channel.linkedid:
        return []
    old = book.calls.get(channel.linkedid)
    book.links.append((channel.linkedid, linkedid))
    channel.linkedid = linkedid
    new = book.call_for(linkedid, time)
    book.attach(new, channel)
    events: list[SystemEvent] = []
    if old is not None:
        book.detach(old, channel)
        events = completion.check(book, old, time)
    if channel.hungup:
        events += completion.check(book, new, time)
    return events


def new_state(book: Book, event: AmiEvent) -> list[SystemEvent]:
    """Newstate: remember the state; state 5 rings the leg of that channel."""
    channel, events = touch(book, event)
    if channel is None:
        return events
    channel.state = parse_state(event.get("ChannelState"))
    if channel.state == STATE_RINGING:
        events += ring_channel(book, channel, event.time)
    return events


def ring_channel(book: Book, channel: Channel, time: float) -> list[SystemEvent]:
    """Ring the leg this channel was offered as (in the dialing call, even if its own Linkedid differs)."""
    call = book.calls.get(channel.leg_call or channel.linkedid)
    extension = call.leg_by_channel.get(channel.uniqueid) if call is not None else None
    if call is None or extension is None:
        return []
    return ring(book, call, call.legs[extension], time)


def ring(book: Book, call: Call, leg: Leg, time: float) -> list[SystemEvent]:
    """`ringing` once per (call, extension), only while the leg is still being offered."""
    if leg.ringing or leg.answered_at is not None or leg.ended_at is not None:
        return []
    leg.ringing = True
    return [book.leg_event(call, RINGING, leg, time)]


def hangup_request(book: Book, event: AmiEvent) -> list[SystemEvent]:
    """HangupRequest: who asked first, and with which cause (17/21 make a callee hangup)."""
    channel, events = touch(book, event)
    if channel is not None:
        channel.request_cause = channel.request_cause or event.get("Cause")
        mark_order(book, channel)
    return events


def mark_order(book: Book, channel: Channel) -> None:
    if not channel.hangup_order:
        book.hangups += 1
        channel.hangup_order = book.hangups


def hangup(book: Book, event: AmiEvent) -> list[SystemEvent]:
    """Hangup: the channel is gone; a caller's hangup releases held CANCELs; the call may be complete."""
    channel, events = touch(book, event)
    if channel is None or channel.hungup:
        return events
    channel.hungup = True
    channel.hangup_cause = event.get("Cause")
    mark_order(book, channel)
    call = book.calls.get(channel.linkedid)
    if call is None:
        return events
    call.alive.discard(channel.uniqueid)
    call.alive_internal.discard(channel.uniqueid)
    if call.caller == channel.uniqueid:
        events += completion.flush_held(book, call, event.time)
    return events + completion.check(book, call, event.time)
