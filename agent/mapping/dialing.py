"""Dial events: legs offered, rung, answered and ended; originate chains; Dial that failed before a channel."""

from __future__ import annotations

from agent.ami.events import AmiEvent
from agent.mapping.book import Book
from agent.mapping.calls import HANGUP_STATUSES, Call, Leg, TrunkLeg, ended_by
from agent.mapping.catalog import CALL_HANGUP, CALL_INCOMING, SystemEvent
from agent.mapping.channels import STATE_RINGING, Channel, Kind, dialed_number
from agent.mapping.completion import answered_elsewhere
from agent.mapping.lifecycle import parse_state, ring, touch


class Dial:
    """One Dial event resolved: its call, the dialing channel (None for Originate) and the dialed one."""

    __slots__ = ("call", "dest", "dialer", "event")

    def __init__(self, call: Call, dialer: Channel | None, dest: Channel, event: AmiEvent) -> None:
        self.call = call
        self.dialer = dialer
        self.dest = dest
        self.event = event


def resolve(book: Book, event: AmiEvent) -> tuple[Dial | None, list[SystemEvent]]:
    """Refresh both channels of a Dial event and find the call it belongs to (§3: the dialer's Linkedid)."""
    dest, events = touch(book, event, "Dest")
    dialer, more = touch(book, event)
    events += more
    has_dialer = bool(event.get("Uniqueid"))
    if dest is None or (has_dialer and dialer is None):
        return None, events
    if event.get("DestChannelState"):
        dest.state = parse_state(event.get("DestChannelState"))
    owner = dialer if dialer is not None else dest
    call = book.calls.get(owner.linkedid)
    return (Dial(call, dialer, dest, event) if call is not None else None), events


def dial_begin(book: Book, event: AmiEvent) -> list[SystemEvent]:
    """DialBegin: an originate step, a trunk leg, or a leg offered to an extension."""
    dial, events = resolve(book, event)
    if dial is None or originate_step(book, dial) or dial.dest.uniqueid == dial.call.caller:
        return events
    return events + offer(book, dial)


def originate_step(book: Book, dial: Dial) -> bool:
    """True when this DialBegin builds the originate chain (it reaches the caller, not a leg)."""
    call = dial.call
    first, call.dialed = not call.dialed, True
    if dial.dialer is None and first:
        if not extend_chain(book, call, dial.dest):
            return False
        call.originated, call.called_number = True, ""
        return True
    if dial.dialer is not None and dial.dialer.uniqueid in call.chain and dial.dialer.is_local_two:
        extend_chain(book, call, dial.dest)
        return True
    return False


def extend_chain(book: Book, call: Call, dest: Channel) -> bool:
    """Follow the originate through Local pairs; the first real channel reached is the caller."""
    if dest.kind is Kind.INTERNAL:
        call.chain.update(uid for uid in (dest.uniqueid, dest.partner) if uid)
        return True
    if not call.caller:
        book.set_caller(call, dest, number=False)
        return True
    return dest.uniqueid == call.caller


def offer(book: Book, dial: Dial) -> list[SystemEvent]:
    """A DialBegin that is a leg: to an extension (call_incoming, maybe ringing) or to a trunk."""
    call, dest, dialer = dial.call, dial.dest, dial.dialer
    if not call.caller and dialer is not None and dialer.kind is not Kind.INTERNAL:
        book.set_caller(call, dialer)
    if call.originated and not call.called_number and dialer is not None:
        call.called_number = dial.event.get("Exten")
    if dest.kind is Kind.TRUNK:
        add_trunk_leg(call, dest, dial.event.get("DialString"))
        return []
    if dest.kind is not Kind.EXTENSION:
        return []
    return offer_extension(book, call, dest, dial.event.time)


def add_trunk_leg(call: Call, dest: Channel, dial_string: str) -> None:
    if dest.uniqueid not in call.trunk_legs:
        number = dialed_number(dial_string) if dial_string else dest.exten
        call.trunk_legs[dest.uniqueid] = TrunkLeg(dest.where.endpoint, dest.uniqueid, number)
    call.trunk = call.trunk or dest.where.endpoint


def offer_extension(book: Book, call: Call, dest: Channel, time: float) -> list[SystemEvent]:
    """Offer the leg (call_incoming once per extension); a dest already ringing also rings."""
    extension = dest.where.extension
    call.leg_by_channel[dest.uniqueid] = extension
    dest.leg_call = call.call_id
    leg = call.legs.get(extension)
    events = []
    if leg is None:
        leg = call.legs[extension] = Leg(extension, dest.uniqueid, time, answers_before=call.answers)
        events.append(book.leg_event(call, CALL_INCOMING, leg, time))
    elif dest.dialend_status:
        return events  # a late copy of the DialBegin of a channel whose DialEnd came already
    elif leg.answered_at is None and leg.channel != dest.uniqueid:
        leg.channel, leg.ended_at, leg.dial_status = dest.uniqueid, None, ""
    leg.dialing[dest.uniqueid] = None
    if dest.state == STATE_RINGING:
        events += ring(book, call, leg, time)
    return events


def dial_state(book: Book, event: AmiEvent) -> list[SystemEvent]:
    """DialState RINGING rings the leg."""
    dial, events = resolve(book, event)
    if dial is None or event.get("DialStatus") != "RINGING":
        return events
    extension = dial.call.leg_by_channel.get(dial.dest.uniqueid)
    if extension is None:
        return events
    return events + ring(book, dial.call, dial.call.legs[extension], event.time)


def dial_end(book: Book, event: AmiEvent) -> list[SystemEvent]:
    """DialEnd: the leg to this very channel answered or ended (DialEnds towards Local channels are ignored)."""
    dial, events = resolve(book, event)
    if dial is None:
        return events
    status = event.get("DialStatus")
    trunk_leg = dial.call.trunk_legs.get(dial.dest.uniqueid)
    if trunk_leg is not None:
        end_trunk_leg(dial, trunk_leg, status)
        return events
    if status == "ANSWER" and unoffered_answer(dial):
        events += offer_extension(book, dial.call, dial.dest, dial.event.time)
    extension = dial.call.leg_by_channel.get(dial.dest.uniqueid)
    if extension is None:
        return events
    leg = dial.call.legs[extension]
    if dial.dest.dialend_status:
        return events + refused_after_answer(book, dial, leg, status)
    dial.dest.dialend_status = status or "?"
    return events + end_channel(book, dial, leg, status)


def refused_after_answer(book: Book, dial: Dial, leg: Leg, status: str) -> list[SystemEvent]:
    """A second DialEnd for a channel whose first one said ANSWER, now with a status that ends a leg unanswered:
    the callee took the call only to refuse it (privacy screening: DONTCALL, TORTURE or NOANSWER; a callee
    macro's BUSY, CONGESTION or CHANUNAVAIL). The answer is withdrawn and the leg ends with that status.
    Anything else (a duplicate, a CANCEL) changes nothing."""
    dest = dial.dest
    if dest.dialend_status != "ANSWER" or status not in HANGUP_STATUSES:
        return []
    if leg.channel != dest.uniqueid or leg.answered_at is None:
        return []
    dest.dialend_status = status
    leg.answered_at = None
    dial.call.answers -= 1
    return end_leg(book, dial, leg, status)


def unoffered_answer(dial: Dial) -> bool:
    """A DialEnd ANSWER from a dialing channel to an extension channel no DialBegin offered: Asterisk 22's
    Pickup/PickupChan, whose picker's channel the caller's Dial answers without a DialBegin (docs/call-model.md)."""
    dest = dial.dest
    if dial.dialer is None or dest.kind is not Kind.EXTENSION or dest.uniqueid == dial.call.caller:
        return False
    return dest.uniqueid not in dial.call.leg_by_channel


def end_channel(book: Book, dial: Dial, leg: Leg, status: str) -> list[SystemEvent]:
    """One channel of the leg ended; the leg ends with it unless another contact still rings or one answered."""
    leg.dialing.pop(dial.dest.uniqueid, None)
    if status != "ANSWER" and (leg.dialing or leg.answered_at is not None):
        return []
    leg.channel = dial.dest.uniqueid
    return end_leg(book, dial, leg, status)


def end_trunk_leg(dial: Dial, trunk_leg: TrunkLeg, status: str) -> None:
    """The trunk leg's DialEnd (the first one counts): answered, or ended by whom the leg rule says."""
    if trunk_leg.dial_status:
        return
    trunk_leg.dial_status = status
    if status == "ANSWER":
        trunk_leg.answered_at = dial.event.time
        dial.call.answers += 1
        dial.call.held.clear()
    else:
        trunk_leg.hangup_by = ended_by(status, dial.dest.request_cause or dial.dest.hangup_cause)


def end_leg(book: Book, dial: Dial, leg: Leg, status: str) -> list[SystemEvent]:
    time = dial.event.time
    leg.dial_status = status
    leg.hangup_cause = dial.dest.request_cause or dial.dest.hangup_cause
    if status == "ANSWER":
        answer(dial.call, leg, time)
        return []
    leg.ended_at = time
    if status == "CANCEL":
        return cancel(book, dial, leg)
    if status in HANGUP_STATUSES:
        return leg_hangup(book, dial.call, leg, ended_by(status, leg.hangup_cause), time)
    return []


def answer(call: Call, leg: Leg, time: float) -> None:
    """DialEnd ANSWER: the leg answered; CANCELs held so far were 'answered elsewhere'."""
    if leg.answered_at is None:
        leg.answered_at = time
        call.answers += 1
    call.held.clear()


def cancel(book: Book, dial: Dial, leg: Leg) -> list[SystemEvent]:
    """CANCEL: forwarded (nothing), answered elsewhere (nothing), else held until the caller hangs up."""
    call = dial.call
    if dial.event.get("Forward"):
        leg.forwarded = True
        return []
    if call.answered_since(leg) or leg.hangup_sent or answered_elsewhere(book, dial.dest.uniqueid):
        return []
    caller = book.caller(call)
    if caller is not None and caller.hungup:
        return leg_hangup(book, call, leg, "caller", dial.event.time)
    if leg.extension not in call.held:
        call.held.append(leg.extension)
    return []


def leg_hangup(book: Book, call: Call, leg: Leg, by: str, time: float) -> list[SystemEvent]:
    """call_hangup once per (call, extension), never for a leg that answered."""
    if leg.hangup_sent or leg.answered_at is not None:
        return []
    leg.hangup_sent = True
    leg.hangup_by = by
    return [book.leg_event(call, CALL_HANGUP, leg, time, ended=True)]
