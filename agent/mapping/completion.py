"""When a call is complete, and its completion event (call_answered / call_unanswered)."""

from __future__ import annotations

from agent.mapping.book import Book
from agent.mapping.calls import ANSWERED_ELSEWHERE, Call, Leg
from agent.mapping.catalog import CALL_ANSWERED, CALL_HANGUP, CALL_UNANSWERED, SystemEvent
from agent.mapping.channels import Channel, Kind
from agent.mapping.params import LegView, Outcome, round_half_up, round_up


def answered_elsewhere(book: Book, uniqueid: str) -> bool:
    """The channel ended with cause 26: another leg answered, even one that is no party of ours (DESIGN §4)."""
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
    """Emit the held call_hangups and the completion event (when one is due), then forget the call."""
    events = flush_held(book, call, time) + flush_unresolved(book, call, time)
    if completion_due(book, call):
        events.append(completion_event(book, call, time, end))
    book.forget(call)
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

    dial_status is then the DIALSTATUS variable when the dialplan class showed it (DESIGN §4), else "".
    """
    events = []
    for leg in [leg for leg in call.legs.values() if never_ended(book, call, leg)]:
        leg.channel = leg.live_channel
        leg.ended_at, leg.dial_status, leg.hangup_sent = time, call.dialstatus, True
        leg.hangup_cause = channel_cause(book, leg.channel)
        leg.hangup_by = first_to_hang_up(book.caller(call), book.channels.get(leg.channel))
        events.append(book.leg_event(call, CALL_HANGUP, leg, time, ended=True))
    return events


def never_ended(book: Book, call: Call, leg: Leg) -> bool:
    """Offered, and neither answered, ended, forwarded nor cancelled because another leg answered."""
    if leg.hangup_sent or leg.answered_at is not None or leg.ended_at is not None or leg.forwarded:
        return False
    return not call.answered_since(leg) and not answered_elsewhere(book, leg.live_channel)


def completion_due(book: Book, call: Call) -> bool:
    """Inbound calls and calls with an offered leg or a trunk leg complete with an event."""
    caller = book.caller(call)
    inbound = caller is not None and caller.kind is Kind.TRUNK
    return inbound or bool(call.legs) or call.has_trunk_leg


def is_outbound(call: Call, caller: Channel | None) -> bool:
    return caller is not None and caller.kind is Kind.EXTENSION and call.has_trunk_leg


def answer_time(call: Call, outbound: bool) -> float | None:
    """The first DialEnd ANSWER of a leg, trunk legs included (outbound: the trunk leg's, if it answered).

    A trunk leg answering an inbound call (follow-me to a mobile, a DID forwarded out) answers the call:
    a leg was answered, so it is not `call_unanswered` (DESIGN §4), and its CANCELs were "answered elsewhere".
    """
    trunk, extension = call.first_trunk_answer(), call.first_answer
    if outbound and trunk is not None:
        return trunk
    return min((moment for moment in (trunk, extension) if moment is not None), default=None)


def completion_event(book: Book, call: Call, time: float, end: float) -> SystemEvent:
    caller = book.caller(call)
    outbound = is_outbound(call, caller)
    answered_at = answer_time(call, outbound)
    name = CALL_ANSWERED if answered_at is not None else CALL_UNANSWERED
    view = reported_leg(book, call, caller, outbound)
    return book.event(call, name, view, outcome(book, call, end, answered_at, outbound), time)


def outcome(book: Book, call: Call, end: float, answered_at: float | None, outbound: bool) -> Outcome:
    """Durations and rating of a completed call."""
    talk = 0.0 if answered_at is None else max(0.0, end - answered_at)
    waited = (end if answered_at is None else answered_at) - call.start
    rated, cost = rating(book, call, talk if answered_at is not None else None, outbound)
    return Outcome(
        duration=str(round_half_up(end - call.start)),
        talk_duration=str(round_half_up(talk)),
        wait_duration=str(round_half_up(waited)),
        call_rating_duration=rated,
        call_cost=cost,
    )


def rating(book: Book, call: Call, billable: float | None, outbound: bool) -> tuple[str, str]:
    """(call_rating_duration, call_cost): the rater prices answered outbound calls, else whole seconds."""
    if billable is None:
        return "0", ""
    trunk_leg = call.billed_trunk_leg()
    if book.rater is not None and outbound and trunk_leg is not None:
        rated = book.rater.rate(trunk_leg.number, billable)
        if rated is not None:
            return str(rated.rated_seconds), rated.cost
    return str(round_up(billable)), ""


def reported_leg(book: Book, call: Call, caller: Channel | None, outbound: bool) -> LegView:
    """The extension a completion event names, with that leg's status, cause and who hung up."""
    if outbound and caller is not None:
        return trunk_view(book, call, caller, caller.where.extension)
    if not call.answered and call.first_trunk_answer() is not None:
        return trunk_view(book, call, caller, "")
    extension = call.answered[0] if call.answered else next(iter(call.legs), "")
    leg = call.legs.get(extension)
    if leg is None:
        return LegView("", hangup_by="caller" if caller is not None and caller.hangup_order else "system")
    other = book.channels.get(leg.channel)
    cause = leg.hangup_cause or (other.hangup_cause if other is not None else "")
    if leg.answered_at is not None:
        return LegView(extension, leg.dial_status, cause, first_to_hang_up(caller, other))
    return LegView(extension, leg.dial_status, cause, leg.hangup_by or first_to_hang_up(caller, other))


def trunk_view(book: Book, call: Call, caller: Channel | None, extension: str) -> LegView:
    """The trunk leg as the completion event reports it, under the extension it names."""
    trunk_leg = call.billed_trunk_leg()
    status = trunk_leg.dial_status if trunk_leg is not None else ""
    other = book.channels.get(trunk_leg.channel) if trunk_leg is not None else None
    cause = other.hangup_cause if other is not None else ""
    by = trunk_leg.hangup_by if trunk_leg is not None and trunk_leg.answered_at is None else ""
    return LegView(extension, status, cause, by or first_to_hang_up(caller, other))


def first_to_hang_up(caller: Channel | None, callee: Channel | None) -> str:
    """caller / callee: whose hangup (request) came first; system when neither is known."""
    caller_order = caller.hangup_order if caller is not None else 0
    callee_order = callee.hangup_order if callee is not None else 0
    if caller_order and (not callee_order or caller_order < callee_order):
        return "caller"
    if callee_order:
        return "callee"
    return "system"
