"""The five system events and the parameters they carry (docs/events.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

CALL_INCOMING = "call_incoming"
RINGING = "ringing"
CALL_HANGUP = "call_hangup"
CALL_ANSWERED = "call_answered"
CALL_UNANSWERED = "call_unanswered"

LIVE_EVENTS = frozenset({CALL_INCOMING, RINGING})
FINAL_EVENTS = frozenset({CALL_HANGUP, CALL_ANSWERED, CALL_UNANSWERED})


@dataclass(frozen=True, slots=True)
class EventInfo:
    key: str
    name: str
    description: str


EVENTS: tuple[EventInfo, ...] = (
    EventInfo(CALL_ANSWERED, "Answered Call", "On completed call, if call is answered by extension"),
    EventInfo(
        CALL_HANGUP,
        "Hangup Call",
        "When waiting on extension to answer, either side hangup. System can forcefully hangup call when "
        "extension not active or timeout",
    ),
    EventInfo(CALL_INCOMING, "Incoming Call", "Call incoming to any extension"),
    EventInfo(CALL_UNANSWERED, "Unanswered Call", "On completed call, if call is unanswered by extension"),
    EventInfo(RINGING, "Ringing", "While waiting on extension to receive call request"),
)
EVENT_KEYS = frozenset(info.key for info in EVENTS)

SYSTEM_PARAMETERS: Mapping[str, str] = MappingProxyType(
    {
        "called_number": "Generated for calls, the number the caller dialed",
        "caller_id": "Generated on calls, Caller ID",
        "calling_name": "Generated for calls, the name of the caller",
        "call_cost": "Call cost generated for rated outbound calls, the price of the call",
        "call_id": "Generated for calls, unique ID of the call",
        "call_rating_duration": "Generated for completed calls, the rated (billable) duration in seconds",
        "date": "Always generated, date when the event triggered [Y-m-d]",
        "direction": "Generated for calls, direction of the call (inbound/outbound/internal)",
        "duration": "Generated for completed calls, duration of the call in seconds",
        "extension": "Generated for the extension in the context of the triggered action",
        "tenant": "Always generated, tenant code where the event triggered (empty when none)",
        "time": "Always generated, time when the event triggered [H:i:s]",
        "unix_time": "Always generated, Unix timestamp when the event triggered",
    }
)

EXTRA_PARAMETERS: Mapping[str, str] = MappingProxyType(
    {
        "event": "The system event key (call_incoming, ringing, ...)",
        "event_id": "Stable unique id of this system event; use it as an idempotency key",
        "dial_status": "The leg's DialStatus as Asterisk reports it (ANSWER, BUSY, NOANSWER, CANCEL, ...)",
        "hangup_cause": "The destination channel's hangup cause code",
        "hangup_by": "Who ended the leg: caller, callee or system",
        "ring_duration": "Seconds the leg was offered before it ended or was answered",
        "talk_duration": "Completion events: seconds from the first answer to the end of the call",
        "wait_duration": "Completion events: seconds from the start of the call to the first answer (or end)",
        "offered_extensions": "Comma-separated extensions offered the call, in order",
        "answered_extensions": "Comma-separated extensions that answered, in order",
        "trunk": "The trunk endpoint of the call, if any",
        "queue": "The queue the call went through, if any",
        "reconciled": "1 when the call was completed by a resync after a reconnect",
        "adopted": "1 when the call was already up when the agent connected",
    }
)

ALL_PARAMETERS: tuple[str, ...] = (*SYSTEM_PARAMETERS, *EXTRA_PARAMETERS)


@dataclass(frozen=True, slots=True)
class SystemEvent:
    """One system event: its key, the call it belongs to, and every parameter of §4 as a string."""

    name: str
    call_id: str
    params: Mapping[str, str]

    @property
    def event_id(self) -> str:
        return self.params.get("event_id", "")
