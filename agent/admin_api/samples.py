"""Sample values for the system parameters, used by Save & Test and dry runs (docs/actions.md).

They look like a real answered internal call (201 calls 202) at `now`, so a receiver can be tried out with
realistic data; custom parameters and values given in the request override them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo


def sample_values(now: datetime, timezone: str, tenant: str, event: str) -> dict[str, str]:
    """Every system and extra parameter, as strings, for a test event named `event` at `now`."""
    local = now.astimezone(ZoneInfo(timezone))
    unix = int(now.timestamp())
    return {
        "call_id": f"{unix}.1",
        "caller_id": "201",
        "calling_name": "Test Caller",
        "called_number": "202",
        "extension": "202",
        "direction": "internal",
        "duration": "42",
        "call_rating_duration": "37",
        "call_cost": "",
        "tenant": tenant,
        "date": local.strftime("%Y-%m-%d"),
        "time": local.strftime("%H:%M:%S"),
        "unix_time": str(unix),
        "event": event,
        "event_id": event,
        "dial_status": "ANSWER",
        "hangup_cause": "16",
        "hangup_by": "caller",
        "ring_duration": "5",
        "talk_duration": "37",
        "wait_duration": "5",
        "offered_extensions": "202",
        "answered_extensions": "202",
        "trunk": "",
        "queue": "",
        "reconciled": "",
        "adopted": "",
    }


def merged(samples: Mapping[str, str], custom: Mapping[str, str], given: Mapping[str, str]) -> dict[str, str]:
    """Samples, then custom parameters, then values given in the request: later ones win."""
    return {**samples, **custom, **given}
