"""Every DIALSTATUS value Asterisk documents, mapped to the outcome docs/call-model.md (DIALSTATUS outcomes) lists.

Each case is the whole event sequence of a recorded Asterisk 22 trace. Where the lab has no recording of a value,
the closest recording is used with only what differs changed, as app_dial sends it: CONGESTION is trace 04 (a
486 busy) with the status, causes and SIP code of a 503; a Dial that ends before any channel with INVALIDARGS,
DONTCALL or TORTURE is trace 35 with that value where the unregistered phone gave CHANUNAVAIL; a callee that
refuses the call after privacy screening is trace 01 with the second DialEnd app_dial then publishes for the
same channel (the first one said ANSWER: the callee picked up to hear who calls).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from types import MappingProxyType

import pytest

from agent.ami.events import AmiEvent
from agent.mapping.catalog import CALL_ANSWERED, CALL_HANGUP, CALL_INCOMING, CALL_UNANSWERED, RINGING, SystemEvent
from agent.mapping.config import MappingConfig
from agent.mapping.tracker import CallTracker
from tests.support.paths import ROOT
from tests.support.tracker import feed_all, index_of, names, trace_events

DOCUMENTED = ("ANSWER", "BUSY", "NOANSWER", "CANCEL", "CONGESTION", "CHANUNAVAIL", "DONTCALL", "TORTURE", "INVALIDARGS")
CALL_MODEL = ROOT / "docs" / "call-model.md"
CONGESTION = {"BUSY": "CONGESTION", "17": "34", "User busy": "Circuit/channel congestion", "486": "503",
              "DIALSTATUS=BUSY HANGUPCAUSE=17": "DIALSTATUS=CONGESTION HANGUPCAUSE=34"}  # fmt: skip
EDITED = ("DialStatus", "Value", "Cause", "Cause-txt", "TechCause", "Disposition", "AppData")


def edited(event: AmiEvent, values: dict[str, str]) -> AmiEvent:
    """The event with the values of its status and cause headers replaced as `values` says."""
    headers = {key: values.get(value, value) if key in EDITED else value for key, value in event.headers.items()}
    return replace(event, headers=MappingProxyType(headers))


def recorded(stem: str) -> list[AmiEvent]:
    return trace_events(stem)


def congestion() -> list[AmiEvent]:
    return [edited(event, CONGESTION) for event in trace_events("04_internal_busy_486")]


def no_channel(status: str) -> list[AmiEvent]:
    """Trace 35, its first Dial (to 209) ending with `status` before any channel existed."""
    events = trace_events("35_internal_unavailable_then_202")
    failed = index_of(events, "VarSet", "PJSIP/201", Variable="DIALSTATUS", Value="CHANUNAVAIL")
    return [*events[:failed], edited(events[failed], {"CHANUNAVAIL": status}), *events[failed + 1 :]]


def screened(status: str) -> list[AmiEvent]:
    """Trace 01, the callee refusing after privacy screening: a second DialEnd, `status`, right after ANSWER."""
    events = trace_events("01_internal_answered_caller_hangup")
    answer = index_of(events, "DialEnd", "PJSIP/201", DialStatus="ANSWER")
    return [*events[: answer + 1], edited(events[answer], {"ANSWER": status}), *events[answer + 1 :]]


@dataclass(frozen=True)
class Case:
    value: str
    source: str
    events: list[AmiEvent]
    emitted: list[tuple[str, str]]
    hangup: tuple[str, str] | None = None  # (dial_status, hangup_by) of the call_hangup, if one is expected


RUNG = [(CALL_INCOMING, "202"), (RINGING, "202")]
CASES = [
    Case("ANSWER", "01 answered", recorded("01_internal_answered_caller_hangup"), [*RUNG, (CALL_ANSWERED, "202")]),
    Case("BUSY", "04 486 Busy Here", recorded("04_internal_busy_486"),
         [*RUNG, (CALL_HANGUP, "202"), (CALL_UNANSWERED, "202")], ("BUSY", "callee")),
    Case("NOANSWER", "03 Dial timeout", recorded("03_internal_no_answer_timeout"),
         [*RUNG, (CALL_HANGUP, "202"), (CALL_UNANSWERED, "202")], ("NOANSWER", "system")),
    Case("CANCEL", "05 caller hangs up", recorded("05_internal_caller_cancel"),
         [*RUNG, (CALL_HANGUP, "202"), (CALL_UNANSWERED, "202")], ("CANCEL", "caller")),
    Case("CANCEL", "09 answered elsewhere", recorded("09_inbound_ringgroup_203_answers"),
         [*RUNG, (CALL_INCOMING, "203"), (RINGING, "203"), (CALL_INCOMING, "204"), (RINGING, "204"),
          (CALL_ANSWERED, "203")]),
    Case("CONGESTION", "04 as a 503", congestion(),
         [*RUNG, (CALL_HANGUP, "202"), (CALL_UNANSWERED, "202")], ("CONGESTION", "system")),
    Case("CHANUNAVAIL", "35 no contact", recorded("35_internal_unavailable_then_202"),
         [(CALL_INCOMING, "209"), (CALL_HANGUP, "209"), *RUNG, (CALL_ANSWERED, "202")], ("CHANUNAVAIL", "system")),
    Case("INVALIDARGS", "35, no channel", no_channel("INVALIDARGS"), [*RUNG, (CALL_ANSWERED, "202")]),
    Case("DONTCALL", "35, no channel", no_channel("DONTCALL"), [*RUNG, (CALL_ANSWERED, "202")]),
    Case("TORTURE", "35, no channel", no_channel("TORTURE"), [*RUNG, (CALL_ANSWERED, "202")]),
    Case("DONTCALL", "01, screened", screened("DONTCALL"),
         [*RUNG, (CALL_HANGUP, "202"), (CALL_UNANSWERED, "202")], ("DONTCALL", "callee")),
    Case("TORTURE", "01, screened", screened("TORTURE"),
         [*RUNG, (CALL_HANGUP, "202"), (CALL_UNANSWERED, "202")], ("TORTURE", "callee")),
    Case("NOANSWER", "01, screened", screened("NOANSWER"),
         [*RUNG, (CALL_HANGUP, "202"), (CALL_UNANSWERED, "202")], ("NOANSWER", "system")),
]  # fmt: skip


def run(case: Case) -> list[SystemEvent]:
    tracker = CallTracker(MappingConfig())
    emitted = feed_all(tracker, case.events)
    assert tracker.calls_in_progress == 0
    return emitted


@pytest.mark.parametrize("case", CASES, ids=[f"{case.value}-{case.source}" for case in CASES])
def test_outcome(case: Case) -> None:
    """Given a Dial ending with the value, then the system events are the documented ones, and a call_hangup
    carries that value as dial_status with the documented hangup_by."""
    emitted = run(case)
    assert names(emitted) == case.emitted
    hangups = [event.params for event in emitted if event.name == CALL_HANGUP]
    if case.hangup is None:
        assert hangups == []
    else:
        assert (hangups[0]["dial_status"], hangups[0]["hangup_by"]) == case.hangup


def test_every_documented_value_has_a_case() -> None:
    assert {case.value for case in CASES} == set(DOCUMENTED)


def test_every_documented_value_is_in_the_call_model_table() -> None:
    """Given docs/call-model.md, then its DIALSTATUS outcomes table has a row for every documented value."""
    text = CALL_MODEL.read_text(encoding="utf-8")
    section = text.split("## DIALSTATUS outcomes", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `([A-Z]+)` \|", section, flags=re.MULTILINE))
    assert set(DOCUMENTED) <= rows


def test_a_refusal_after_screening_withdraws_the_answer() -> None:
    """Given the screened DONTCALL case, then the completion is unanswered with no talk, and the call_hangup
    comes at the second DialEnd (not at the end of the call)."""
    case = next(case for case in CASES if case.source == "01, screened")
    emitted = run(case)
    final = emitted[-1].params
    assert (final["answered_extensions"], final["talk_duration"]) == ("", "0")
    refused = next(event for event in case.events if event.get("DialStatus") == "DONTCALL")
    assert emitted[2].params["unix_time"] == str(int(refused.time))
