"""`Cdr` events (cdr_manager) repair what a resync could not show (docs/call-model.md, Reconnects and Cdr).

A CoreShowChannels snapshot lists only live channels: a callee that answered and hung up while the link was
down is simply gone, and the call would end as unanswered. Asterisk posts one Cdr per (caller, callee) pair
when the call ends; for a call that lived through a resync (`Call.gap`), a Cdr saying `ANSWERED` to an
extension (or trunk) whose end the tracker never saw answers that leg at the Cdr's `AnswerTime`, and a Cdr
saying `NO ANSWER`, `BUSY`, ... gives such a leg its status. What the events did show always stands; calls
that did not live through a resync ignore Cdrs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from agent.ami.events import AmiEvent
from agent.mapping import completion
from agent.mapping.book import Book
from agent.mapping.calls import Call, Leg, TrunkLeg
from agent.mapping.catalog import SystemEvent
from agent.mapping.channels import Kind, classify, trunk_number

# Cdr Disposition -> the DialStatus it stands for.
DISPOSITIONS = {"ANSWERED": "ANSWER", "NO ANSWER": "NOANSWER", "BUSY": "BUSY", "FAILED": "CHANUNAVAIL",
                "CONGESTION": "CONGESTION"}  # fmt: skip
QUARTER_HOUR = 900.0  # every time zone's offset from UTC is a multiple of 15 minutes
CDR_TIME = "%Y-%m-%d %H:%M:%S"


def cdr(book: Book, event: AmiEvent) -> list[SystemEvent]:
    """Fold a Cdr into the call of its Party A channel (`UniqueID`); a parked call it answers is finished."""
    book.cdr_seen = True
    party = book.channels.get(event.get("UniqueID"))
    call = book.calls.get(party.linkedid) if party is not None else None
    if party is None or call is None or not call.gap:
        return []
    call.caller_cdr = call.caller_cdr or party.uniqueid == call.caller
    answered = repair(book, call, event)
    if answered and call.ended_at is not None:
        return completion.finish(book, call, call.ended_at, call.ended_at)
    return []


def repair(book: Book, call: Call, event: AmiEvent) -> bool:
    """Apply the Cdr to the leg of its DestinationChannel; True when it answered a leg."""
    status = DISPOSITIONS.get(event.get("Disposition"), "")
    answered_at = answer_time(event) if status == "ANSWER" else None
    if status == "ANSWER" and answered_at is None:
        return False
    where = classify(event.get("DestinationChannel"), book.config)
    if where.kind is Kind.EXTENSION:
        leg = cdr_leg(book, call, where.extension, event, answered_at)
        return leg is not None and repair_leg(call, leg, status, answered_at)
    if where.kind is Kind.TRUNK:
        return repair_trunk_leg(book, call, event, status, answered_at)
    return False


def answer_time(event: AmiEvent) -> float | None:
    """The Cdr's AnswerTime on the AMI clock, mid-second (Cdr times are whole seconds); None for a Cdr that
    billed nothing (Asterisk writes an ANSWERED Cdr with 0 seconds to the phone a pickup took the call from)."""
    billable = event.get("BillableSeconds")
    if not billable.isdigit() or int(billable) == 0:
        return None
    return cdr_time(event.get("AnswerTime"), event)


def cdr_time(local: str, event: AmiEvent) -> float | None:
    """A Cdr time (the PBX's local time, no zone) on the AMI clock.

    The zone offset is read off the Cdr itself: it is posted soon after its EndTime, so the Cdr's own
    Timestamp minus its EndTime, rounded to a quarter hour, is the offset (any posting delay under 7.5
    minutes is rounded away).
    """
    moment, end = naive_epoch(local), naive_epoch(event.get("EndTime"))
    if moment is None or end is None:
        return None
    offset = round((event.time - end) / QUARTER_HOUR) * QUARTER_HOUR
    return moment + offset + 0.5


def naive_epoch(text: str) -> float | None:
    try:
        return datetime.strptime(text, CDR_TIME).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def cdr_leg(book: Book, call: Call, extension: str, event: AmiEvent, answered_at: float | None) -> Leg | None:
    """The leg of the Cdr's extension; one that answered while we were away is added, offered at the Cdr's
    StartTime (it was never offered to us: no call_incoming)."""
    leg = call.legs.get(extension)
    if leg is not None or answered_at is None:
        return leg
    name = event.get("DestinationChannel")
    uniqueid = next((uid for uid in call.channels if (ch := book.channels.get(uid)) and ch.name == name), "")
    offered = min(max(cdr_time(event.get("StartTime"), event) or answered_at, call.start), answered_at)
    leg = call.legs[extension] = Leg(extension, uniqueid, offered, answers_before=call.answers)
    return leg


def repair_leg(call: Call, leg: Leg, status: str, answered_at: float | None) -> bool:
    """A leg whose end the events did not show takes the Cdr's status, or its answer (True); an answer only
    inferred at the resync moment moves back to the Cdr's, when that is earlier."""
    if leg.answer_inferred and answered_at is not None:
        return earlier_answer(call, leg, answered_at)
    if not leg.unresolved:
        return False
    if answered_at is None:
        leg.dial_status = status
        return False
    leg.dialing.clear()
    return answer(call, leg, answered_at)


def repair_trunk_leg(book: Book, call: Call, event: AmiEvent, status: str, answered_at: float | None) -> bool:
    """A trunk leg whose DialEnd the events did not show (or a trunk the call reached while we were away)."""
    name = event.get("DestinationChannel")
    leg = next((leg for leg in call.trunk_legs.values() if channel_name(book, leg) == name), None)
    if leg is None and answered_at is not None:
        number = trunk_number(event.get("LastData"), book.config) or event.get("Destination")
        leg = call.trunk_legs[name] = TrunkLeg(classify(name, book.config).endpoint, name, number)
    if leg is None or answered_at is None:
        if leg is not None and not leg.dial_status:
            leg.dial_status = status
        return False
    if leg.answer_inferred:
        return earlier_answer(call, leg, answered_at)
    return not leg.dial_status and answer(call, leg, answered_at)


def answer(call: Call, leg: Leg | TrunkLeg, answered_at: float) -> bool:
    """The leg answered at the Cdr's time (never before the call or the leg began, nor after the call ended)."""
    floor = max(call.start, leg.offered_at) if isinstance(leg, Leg) else call.start
    end = call.ended_at if call.ended_at is not None else max(answered_at, floor)
    leg.answered_at, leg.dial_status = min(max(answered_at, floor), end), "ANSWER"
    call.answers += 1
    call.held.clear()
    return True


def earlier_answer(call: Call, leg: Leg | TrunkLeg, answered_at: float) -> bool:
    """Move an inferred answer back to the Cdr's time (not before the leg was offered)."""
    floor = max(call.start, leg.offered_at) if isinstance(leg, Leg) else call.start
    moment = max(answered_at, floor)
    if leg.answered_at is not None and moment < leg.answered_at:
        leg.answered_at = moment
    leg.answer_inferred = False
    return True


def channel_name(book: Book, leg: TrunkLeg) -> str:
    channel = book.channels.get(leg.channel)
    return channel.name if channel is not None else leg.channel
