"""When a call is complete, the held and unresolved legs it ends with, and its completion event.

A call that lived through a resync may wait a little after its end for its `Cdr` (docs/call-model.md,
Reconnects and Cdr): `complete` then parks it, and `finish` emits it when the Cdr came or the wait is over.
"""

from __future__ import annotations

from agent.mapping.book import Book
from agent.mapping.calls import ANSWERED_ELSEWHERE, Call, Leg
from agent.mapping.catalog import CALL_HANGUP, SystemEvent
from agent.mapping.channels import Channel, Kind
from agent.mapping.outcome import first_to_hang_up

# Seconds of AMI time a call that lived through a resync waits, after its last hangup, for its Cdr. Asterisk
# posts the caller's Cdrs within milliseconds of its hangup (unless cdr.conf batches them).
CDR_WAIT = 2.0


def answered_elsewhere(book: Book, uniqueid: str) -> bool:
    """The channel ended with cause 26: another leg answered, even one that is no party of ours."""
    channel = book.channels.get(uniqueid)
    return channel is not None and ANSWERED_ELSEWHERE in (channel.request_cause, channel.hangup_cause)


def is_complete(call: Call) -> bool:
    """No party channel is left (and at least one existed, or nothing at all is left)."""
    if call.alive:
        return False
    return call.had_party or not call.alive_internal


def check(book: Book, call: Call, time: float) -> list[SystemEvent]:
    """Complete the call if its last party channel is gone."""
    if not is_complete(call):
        return []
    return complete(book, call, time, time)


def complete(book: Book, call: Call, time: float, end: float) -> list[SystemEvent]:
    """Finish the call now, or park it until its Cdr can tell what the events could not."""
    if call.ended_at is None and waits_for_cdr(book, call):
        call.ended_at = end
        book.awaiting[call.call_id] = None
        return []
    return finish(book, call, time, end)


def waits_for_cdr(book: Book, call: Call) -> bool:
    """A call that lived through a resync, on a link that carries Cdrs, whose caller's Cdr has not come yet,
    waits when part of it is unknown: it was adopted, a leg's (or trunk leg's) end was never seen, or an answer
    is only known from the snapshot."""
    if not (book.cdr_seen and call.gap) or call.caller_cdr:
        return False
    unknown_leg = any(leg.unresolved or leg.answer_inferred for leg in call.legs.values())
    unknown_trunk = any(not leg.dial_status or leg.answer_inferred for leg in call.trunk_legs.values())
    return call.adopted or unknown_leg or unknown_trunk


def finish(book: Book, call: Call, time: float, end: float) -> list[SystemEvent]:
    """Emit the held call_hangups and the completion event (when one is due), then forget the call."""
    events = flush_held(book, call, time) + flush_unresolved(book, call, time)
    if completion_due(book, call):
        events.append(book.completion(call, end))
    book.awaiting.pop(call.call_id, None)
    book.forget(call)
    return events


def release(book: Book, now: float) -> list[SystemEvent]:
    """Finish the parked calls whose wait for a Cdr is over at `now` (AMI time)."""
    due = [call for call_id in book.awaiting if (call := book.calls[call_id]).ended_at is not None
           and call.ended_at + CDR_WAIT <= now]  # fmt: skip
    events: list[SystemEvent] = []
    for call in due:
        end = call.ended_at if call.ended_at is not None else now
        events += finish(book, call, end, end)
    return events


def flush_held(book: Book, call: Call, time: float) -> list[SystemEvent]:
    """Held DialEnd CANCELs become call_hangup (hangup_by caller) unless a leg answered meanwhile."""
    held, call.held = call.held, []
    events = []
    for extension in held:
        leg = call.legs[extension]
        if leg.hangup_sent or leg.answered_at is not None or call.answered_since(leg):
            continue
        if answered_elsewhere(book, leg.channel):
            continue
        leg.hangup_sent = True
        leg.hangup_by = "caller"
        leg.hangup_cause = leg.hangup_cause or channel_cause(book, leg.channel)
        events.append(book.leg_event(call, CALL_HANGUP, leg, time, ended=True))
    return events


def channel_cause(book: Book, uniqueid: str) -> str:
    """The hangup (request) cause of a channel, as far as it is known now."""
    channel = book.channels.get(uniqueid)
    return "" if channel is None else channel.request_cause or channel.hangup_cause


def flush_unresolved(book: Book, call: Call, time: float) -> list[SystemEvent]:
    """Legs still offered when the call ends (their DialEnd never came) ended unanswered too.

    dial_status is then what a Cdr said (after a resync), else the DIALSTATUS variable when the dialplan
    class showed it, else "".
    """
    events = []
    for leg in [leg for leg in call.legs.values() if never_ended(book, call, leg)]:
        leg.channel = leg.live_channel
        leg.ended_at, leg.dial_status, leg.hangup_sent = time, leg.dial_status or call.dialstatus, True
        leg.hangup_cause = channel_cause(book, leg.channel)
        leg.hangup_by = first_to_hang_up(book.caller(call), book.channels.get(leg.channel))
        events.append(book.leg_event(call, CALL_HANGUP, leg, time, ended=True))
    return events


def never_ended(book: Book, call: Call, leg: Leg) -> bool:
    """Offered, and neither answered, ended, forwarded nor cancelled because another leg answered."""
    if not leg.unresolved:
        return False
    return not call.answered_since(leg) and not answered_elsewhere(book, leg.live_channel)


def completion_due(book: Book, call: Call) -> bool:
    """Inbound calls and calls with an offered leg or a trunk leg complete with an event."""
    caller: Channel | None = book.caller(call)
    inbound = caller is not None and caller.kind is Kind.TRUNK
    return inbound or bool(call.legs) or bool(call.trunk_legs)
