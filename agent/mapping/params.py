"""The parameters of a system event (docs/events.md): every tag present, every value a string.

Formatting only: what the values are (answered or not, durations, the leg an event names) comes from
agent/mapping/outcome.py.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from agent.mapping.calls import Call
from agent.mapping.catalog import ALL_PARAMETERS
from agent.mapping.channels import Channel, Kind, clean_callerid
from agent.mapping.config import MappingConfig
from agent.mapping.outcome import Facts, LegView, Outcome


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


def call_values(call: Call, caller: Channel | None, seen: Facts, config: MappingConfig) -> dict[str, str]:
    """The parameters that describe the call as a whole at this moment."""
    caller_id, calling_name = caller_values(call, caller)
    return {
        "call_id": call.call_id,
        "caller_id": caller_id,
        "calling_name": calling_name,
        "called_number": seen.called_number,
        "direction": seen.direction,
        "tenant": tenant(call, caller, config),
        "offered_extensions": ",".join(seen.offered),
        "answered_extensions": ",".join(seen.answered),
        "trunk": seen.trunk,
        "queue": call.queue,
        "reconciled": "1" if call.reconciled else "",
        "adopted": "1" if call.adopted else "",
    }


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
    params["ring_duration"] = "" if view.ring_seconds is None else str(view.ring_seconds)
    if outcome is not None:
        params["duration"] = str(outcome.duration)
        params["talk_duration"] = str(outcome.talk)
        params["wait_duration"] = str(outcome.wait)
        params["call_rating_duration"] = str(outcome.rated_seconds)
        params["call_cost"] = outcome.cost
    return params
