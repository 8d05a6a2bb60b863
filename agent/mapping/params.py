"""The parameters of a system event (docs/events.md): every tag present, every value a string."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from agent.mapping.calls import Call, Leg
from agent.mapping.catalog import ALL_PARAMETERS
from agent.mapping.channels import Channel, Kind, clean_callerid
from agent.mapping.config import MappingConfig


@dataclass(frozen=True, slots=True)
class LegView:
    """The per-leg values of a per-leg event (or of the leg a completion event names)."""

    extension: str
    dial_status: str = ""
    hangup_cause: str = ""
    hangup_by: str = ""
    ring_duration: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The values only completion events carry."""

    duration: str
    talk_duration: str
    wait_duration: str
    call_rating_duration: str
    call_cost: str


def round_half_up(seconds: float) -> int:
    """Whole seconds, x.5 rounded up; microsecond noise from float subtraction is removed first."""
    return max(0, math.floor(round(seconds, 6) + 0.5))


def round_up(seconds: float) -> int:
    """Whole seconds rounded up (billing), ignoring float noise below a microsecond."""
    return max(0, math.ceil(round(seconds, 6)))


def direction(call: Call, caller: Channel | None) -> str:
    """inbound (caller is a trunk), outbound (extension caller, trunk leg dialed), internal, or ""."""
    if caller is None:
        return ""
    if caller.kind is Kind.TRUNK:
        return "inbound"
    if caller.kind is Kind.EXTENSION:
        return "outbound" if call.has_trunk_leg else "internal"
    return ""


def called_number(call: Call, caller: Channel | None) -> str:
    """The dialed number; for outbound calls the number sent to the trunk (the one that answered, if any)."""
    trunk_leg = call.billed_trunk_leg()
    if trunk_leg is not None and caller is not None and caller.kind is Kind.EXTENSION:
        return trunk_leg.number
    return call.called_number


def trunk(call: Call, caller: Channel | None) -> str:
    """The trunk of the call: the caller's for inbound calls; outbound, the one that answered (after failover)."""
    trunk_leg = call.billed_trunk_leg()
    if trunk_leg is not None and caller is not None and caller.kind is Kind.EXTENSION:
        return trunk_leg.endpoint
    return call.trunk


def caller_values(call: Call, caller: Channel | None) -> tuple[str, str]:
    """(caller_id, calling_name) at this moment; an originated call shows the originating extension."""
    if caller is None:
        return "", ""
    if call.originated and caller.kind is Kind.EXTENSION:
        return caller.where.extension, clean_callerid(caller.first_cid_name)
    return clean_callerid(caller.cid_num), clean_callerid(caller.cid_name)


def tenant(call: Call, caller: Channel | None, config: MappingConfig) -> str:
    """TENANT channel variable, else TENANT_PATTERN on the caller's context, else the TENANT setting."""
    if call.tenant:
        return call.tenant
    if config.tenant_pattern is not None and caller is not None:
        match = config.tenant_pattern.search(caller.context)
        if match:
            return match.group(1) if match.groups() else match.group(0)
    return config.tenant


def clock(time: float, zone: ZoneInfo) -> dict[str, str]:
    """date, time and unix_time of the triggering AMI event."""
    second = int(time)
    day, hour = _wall_clock(second, zone)
    return {"date": day, "time": hour, "unix_time": str(second)}


@lru_cache(maxsize=256)
def _wall_clock(second: int, zone: ZoneInfo) -> tuple[str, str]:
    """(Y-m-d, H:M:S) of an epoch second in `zone`; cached, as the events of a burst share their seconds."""
    moment = datetime.fromtimestamp(second, zone)
    return moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M:%S")


def call_values(call: Call, caller: Channel | None, config: MappingConfig) -> dict[str, str]:
    """The parameters that describe the call as a whole at this moment."""
    caller_id, calling_name = caller_values(call, caller)
    return {
        "call_id": call.call_id,
        "caller_id": caller_id,
        "calling_name": calling_name,
        "called_number": called_number(call, caller),
        "direction": direction(call, caller),
        "tenant": tenant(call, caller, config),
        "offered_extensions": ",".join(call.legs),
        "answered_extensions": ",".join(call.answered),
        "trunk": trunk(call, caller),
        "queue": call.queue,
        "reconciled": "1" if call.reconciled else "",
        "adopted": "1" if call.adopted else "",
    }


def leg_view(leg: Leg, time: float, ended: bool) -> LegView:
    """The per-leg values of a leg at `time` (ring duration up to now, or to its end/answer)."""
    until = next((moment for moment in (leg.answered_at, leg.ended_at) if moment is not None), time)
    return LegView(
        extension=leg.extension,
        dial_status=leg.dial_status if ended else "",
        hangup_cause=leg.hangup_cause if ended else "",
        hangup_by=leg.hangup_by if ended else "",
        ring_duration=str(round_half_up(until - leg.offered_at)),
    )


def assemble(
    name: str,
    call_part: dict[str, str],
    view: LegView,
    outcome: Outcome | None,
    time_part: dict[str, str],
) -> dict[str, str]:
    """Every parameter of §4 in one dict, "" for what this event does not generate."""
    params = dict.fromkeys(ALL_PARAMETERS, "")
    params.update(call_part)
    params.update(time_part)
    params["event"] = name
    params["extension"] = view.extension
    params["dial_status"] = view.dial_status
    params["hangup_cause"] = view.hangup_cause
    params["hangup_by"] = view.hangup_by
    params["ring_duration"] = view.ring_duration
    if outcome is not None:
        params["duration"] = outcome.duration
        params["talk_duration"] = outcome.talk_duration
        params["wait_duration"] = outcome.wait_duration
        params["call_rating_duration"] = outcome.call_rating_duration
        params["call_cost"] = outcome.call_cost
    return params
