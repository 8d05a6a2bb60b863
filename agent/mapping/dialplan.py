"""What the `dialplan` class events tell (Newexten, VarSet): a Dial that failed before any channel existed, and
channel variables the call model reads (docs/call-model.md, DIALSTATUS outcomes and Channel variables)."""

from __future__ import annotations

from agent.ami.events import AmiEvent
from agent.mapping.book import Book
from agent.mapping.calls import Call, Leg
from agent.mapping.catalog import CALL_HANGUP, CALL_INCOMING, SystemEvent
from agent.mapping.channels import INTERNAL_TECHS, Kind, dial_targets, endpoint_kind, target_endpoint

# The only VarSet variables and Newexten applications the tracker reads (see var_set and new_exten).
VARIABLES = frozenset({"DIALSTATUS", "TENANT"})
APPLICATIONS = frozenset({"Dial"})


def variable_name(raw: str) -> str:
    """A variable as the dialplan means it: `Set(__TENANT=x)` and `Set(_TENANT=x)` (inherited by the channels
    this one creates) are reported by VarSet with their prefix, and are TENANT all the same."""
    return raw.lstrip("_")


def var_set(book: Book, event: AmiEvent) -> list[SystemEvent]:
    """VarSet matters only for DIALSTATUS (a Dial that failed before a channel) and TENANT (any channel)."""
    variable = variable_name(event.get("Variable"))
    if variable == "DIALSTATUS":
        return dial_status(book, event)
    if variable == "TENANT":
        channel = book.channels.get(event.get("Uniqueid"))
        call = book.calls.get(channel.linkedid) if channel is not None else None
        if call is not None and not call.tenant:
            call.tenant = event.get("Value")
    return []


def new_exten(book: Book, event: AmiEvent) -> list[SystemEvent]:
    """Newexten running Dial: remember its data, in case it fails before any channel exists."""
    if event.get("Application") not in APPLICATIONS:
        return []
    channel = book.channels.get(event.get("Uniqueid"))
    if channel is not None:
        channel.dial_data = event.get("AppData")
    return []


def dial_status(book: Book, event: AmiEvent) -> list[SystemEvent]:
    """VarSet DIALSTATUS=CHANUNAVAIL after a Dial: each named extension with no DialBegin was offered and failed.

    Dial first resets DIALSTATUS to "" (with DIALEDPEERNUMBER and friends), then sets its result: the reset
    starts the Dial, so it keeps the Dial's data for the result that follows. Other results with no channel
    (INVALIDARGS, a privacy database's DONTCALL or TORTURE) offer nothing.
    """
    channel = book.channels.get(event.get("Uniqueid"))
    call = book.calls.get(channel.linkedid) if channel is not None else None
    if channel is None or call is None:
        return []
    call.dialstatus = event.get("Value")
    if not call.dialstatus:
        return []
    data, channel.dial_data = channel.dial_data, ""
    if call.dialstatus != "CHANUNAVAIL" or not data:
        return []
    if not call.caller and channel.kind is not Kind.INTERNAL:
        book.set_caller(call, channel)
    events: list[SystemEvent] = []
    for extension in named_extensions(book, data):
        if extension not in call.legs:
            events += unavailable_leg(book, call, extension, event.time)
    return events


def named_extensions(book: Book, dial_data: str) -> list[str]:
    """The extensions a Dial application's data names (Local and other plumbing targets skipped)."""
    extensions = []
    for tech, resource in dial_targets(dial_data):
        where = endpoint_kind(tech, target_endpoint(resource), book.config)
        if tech.lower() not in INTERNAL_TECHS and where.kind is Kind.EXTENSION:
            extensions.append(where.extension)
    return extensions


def unavailable_leg(book: Book, call: Call, extension: str, time: float) -> list[SystemEvent]:
    """A leg offered and failed at once (CHANUNAVAIL, the system's doing): call_incoming, then call_hangup."""
    leg = call.legs[extension] = Leg(extension, "", time, ended_at=time, dial_status="CHANUNAVAIL")
    leg.hangup_sent, leg.hangup_by = True, "system"
    incoming = book.leg_event(call, CALL_INCOMING, leg, time)
    return [incoming, book.leg_event(call, CALL_HANGUP, leg, time, ended=True)]
