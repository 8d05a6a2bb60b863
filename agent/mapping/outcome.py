"""What a call adds up to, computed in one place: who answered and when, the leg an event names, the durations.

Every system event reads the call through `facts()` (per-leg events add `leg_view()`); a completion event
reads `decide()`, which carries the facts too. Nothing else in the tracker works out whether, when or by whom
a call was answered (docs/call-model.md, docs/events.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from agent.mapping.calls import Call, Leg, TrunkLeg
from agent.mapping.catalog import CALL_ANSWERED, CALL_UNANSWERED
from agent.mapping.channels import Channel, Kind
from agent.mapping.config import Rater


@dataclass(frozen=True, slots=True)
class LegView:
    """The per-leg values of a per-leg event (or of the leg a completion event names)."""

    extension: str
    dial_status: str = ""
    hangup_cause: str = ""
    hangup_by: str = ""
    ring_seconds: int | None = None  # None: not generated


@dataclass(frozen=True, slots=True)
class Facts:
    """What any event says about the call as a whole, at its moment."""

    direction: str
    called_number: str
    trunk: str
    offered: tuple[str, ...]
    answered: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A completed call: answered or not, the leg the completion event names, durations and rating."""

    facts: Facts
    reported: LegView
    answered_at: float | None
    duration: int
    talk: int
    wait: int
    rated_seconds: int
    cost: str

    @property
    def name(self) -> str:
        return CALL_ANSWERED if self.answered_at is not None else CALL_UNANSWERED


def round_half_up(seconds: float) -> int:
    """Whole seconds, x.5 rounded up; microsecond noise from float subtraction is removed first."""
    return max(0, math.floor(round(seconds, 6) + 0.5))


def round_up(seconds: float) -> int:
    """Whole seconds rounded up (billing), ignoring float noise below a microsecond."""
    return max(0, math.ceil(round(seconds, 6)))


def facts(call: Call, caller: Channel | None) -> Facts:
    """Direction, the dialed number, the trunk and the offered/answered extensions, as the call stands now.

    Outbound (an extension dialed a trunk), the number and trunk are the billed trunk leg's: after a failover,
    the one that answered.
    """
    trunk_leg = billed_trunk_leg(call)
    dialed_out = trunk_leg is not None and caller is not None and caller.kind is Kind.EXTENSION
    return Facts(
        direction=direction(call, caller),
        called_number=trunk_leg.number if dialed_out and trunk_leg else call.called_number,
        trunk=trunk_leg.endpoint if dialed_out and trunk_leg else call.trunk,
        offered=tuple(leg.extension for leg in sorted(call.legs.values(), key=lambda leg: leg.offered_at)),
        answered=tuple(leg.extension for leg in answered_legs(call)),
    )


def direction(call: Call, caller: Channel | None) -> str:
    """inbound (caller is a trunk), outbound (extension caller, trunk leg dialed), internal, or ""."""
    if caller is None:
        return ""
    if caller.kind is Kind.TRUNK:
        return "inbound"
    if caller.kind is Kind.EXTENSION:
        return "outbound" if bool(call.trunk_legs) else "internal"
    return ""


def answered_legs(call: Call) -> list[Leg]:
    """The extension legs that answered, earliest answer first (offer order among equal times)."""
    legs = [leg for leg in call.legs.values() if leg.answered_at is not None]
    return sorted(legs, key=lambda leg: leg.answered_at or 0.0)


def billed_trunk_leg(call: Call) -> TrunkLeg | None:
    """The first trunk leg that answered (after a failover, not the failed first try), else the first one."""
    legs = call.trunk_legs.values()
    return next((leg for leg in legs if leg.answered_at is not None), None) or next(iter(legs), None)


def leg_view(leg: Leg, time: float, ended: bool) -> LegView:
    """The per-leg values of a leg at `time` (ring duration up to now, or to its end/answer)."""
    until = next((moment for moment in (leg.answered_at, leg.ended_at) if moment is not None), time)
    ring = round_half_up(until - leg.offered_at)
    if not ended:
        return LegView(leg.extension, ring_seconds=ring)
    return LegView(leg.extension, leg.dial_status, leg.hangup_cause, leg.hangup_by, ring)


def answer_time(call: Call, outbound: bool) -> float | None:
    """The call's answer: the first answer of a leg, trunk legs included (outbound: the trunk leg's, if any).

    A trunk leg answering an inbound or internal call (follow-me to a mobile, a DID forwarded out) answers the
    call: a leg was answered, so it is not `call_unanswered`, and its CANCELs were "answered elsewhere".
    """
    trunk = min((leg.answered_at for leg in call.trunk_legs.values() if leg.answered_at is not None), default=None)
    if outbound and trunk is not None:
        return trunk
    legs = answered_legs(call)
    extension = legs[0].answered_at if legs else None
    return min((moment for moment in (trunk, extension) if moment is not None), default=None)


def decide(call: Call, caller: Channel | None, channels: Mapping[str, Channel], end: float,
           rater: Rater | None) -> Outcome:  # fmt: skip
    """The outcome of a call that ended at `end`."""
    seen = facts(call, caller)
    outbound = seen.direction == "outbound"
    answered_at = answer_time(call, outbound)
    talk = 0.0 if answered_at is None else max(0.0, end - answered_at)
    rated, cost = rating(call, talk if answered_at is not None else None, outbound, rater)
    return Outcome(
        facts=seen,
        reported=reported_leg(call, caller, channels, seen),
        answered_at=answered_at,
        duration=round_half_up(end - call.start),
        talk=round_half_up(talk),
        wait=round_half_up((end if answered_at is None else answered_at) - call.start),
        rated_seconds=rated,
        cost=cost,
    )


def rating(call: Call, billable: float | None, outbound: bool, rater: Rater | None) -> tuple[int, str]:
    """(call_rating_duration, call_cost): the rater prices answered outbound calls, else whole seconds."""
    if billable is None:
        return 0, ""
    trunk_leg = billed_trunk_leg(call)
    if rater is not None and outbound and trunk_leg is not None:
        rated = rater.rate(trunk_leg.number, billable)
        if rated is not None:
            return rated.rated_seconds, rated.cost
    return round_up(billable), ""


def reported_leg(call: Call, caller: Channel | None, channels: Mapping[str, Channel], seen: Facts) -> LegView:
    """The extension a completion event names, with that leg's status, cause and who hung up: the first that
    answered, else the first offered (outbound: the calling extension, with the trunk leg's values)."""
    if seen.direction == "outbound" and caller is not None:
        return trunk_view(call, caller, channels, caller.where.extension)
    if not seen.answered and any(leg.answered_at is not None for leg in call.trunk_legs.values()):
        return trunk_view(call, caller, channels, "")
    extension = seen.answered[0] if seen.answered else next(iter(call.legs), "")
    leg = call.legs.get(extension)
    if leg is None:
        return LegView("", hangup_by="caller" if caller is not None and caller.hangup_order else "system")
    other = channels.get(leg.channel)
    cause = leg.hangup_cause or (other.hangup_cause if other is not None else "")
    by = "" if leg.answered_at is not None else leg.hangup_by
    return LegView(extension, leg.dial_status, cause, by or first_to_hang_up(caller, other))


def trunk_view(call: Call, caller: Channel | None, channels: Mapping[str, Channel], extension: str) -> LegView:
    """The trunk leg as the completion event reports it, under the extension it names."""
    trunk_leg = billed_trunk_leg(call)
    if trunk_leg is None:
        return LegView(extension, hangup_by=first_to_hang_up(caller, None))
    other = channels.get(trunk_leg.channel)
    cause = other.hangup_cause if other is not None else ""
    by = trunk_leg.hangup_by if trunk_leg.answered_at is None else ""
    return LegView(extension, trunk_leg.dial_status, cause, by or first_to_hang_up(caller, other))


def first_to_hang_up(caller: Channel | None, callee: Channel | None) -> str:
    """caller / callee: whose hangup (request) came first; system when neither is known."""
    caller_order = caller.hangup_order if caller is not None else 0
    callee_order = callee.hangup_order if callee is not None else 0
    if caller_order and (not callee_order or caller_order < callee_order):
        return "caller"
    if callee_order:
        return "callee"
    return "system"
