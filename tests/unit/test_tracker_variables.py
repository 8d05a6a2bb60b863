"""Channel variables as dialplans set them (docs/call-model.md): `Set(__TENANT=x)` and `Set(_TENANT=x)` are
reported by VarSet with their inheritance prefix, and a variable may be set on any channel of the call.

Each case is the whole recorded trace 35 (201 dials 221: 209 unavailable, then 202 answers) with one VarSet
added where the dialplan would send it, built from a VarSet of the same channel in that trace.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from agent.ami.events import AmiEvent
from agent.ami.wire import FrameDecoder, encode_event
from agent.mapping.config import MappingConfig
from agent.mapping.tracker import CallTracker, log_key, skim
from tests.support.tracker import feed_all, index_of, trace_events

STEM = "35_internal_unavailable_then_202"


def with_variable(channel: str, after: str, variable: str, value: str) -> tuple[list[AmiEvent], AmiEvent]:
    """Trace 35 with `Set(variable=value)` on `channel`, right after that channel's VarSet of `after`."""
    events = trace_events(STEM)
    at = index_of(events, "VarSet", channel, Variable=after)
    headers = {**events[at].headers, "Variable": variable, "Value": value}
    added = replace(events[at], headers=MappingProxyType(headers), raw=b"")
    return [*events[: at + 1], added, *events[at + 1 :]], added


def tenants(events: list[AmiEvent]) -> list[str]:
    return [event.params["tenant"] for event in feed_all(CallTracker(MappingConfig()), events)]


@pytest.mark.parametrize("variable", ["TENANT", "_TENANT", "__TENANT"])
@pytest.mark.parametrize(("channel", "after"), [("PJSIP/201", "SIPDOMAIN"), ("PJSIP/202", "DIALEDPEERNUMBER")])
def test_tenant_as_the_dialplan_sets_it(variable: str, channel: str, after: str) -> None:
    """Given Set(TENANT=acme) with any inheritance prefix, on the caller or on the dialed channel, then every
    system event emitted after it carries tenant acme, and the ones before it none."""
    events, added = with_variable(channel, after, variable, "acme")
    at = events.index(added)
    tracker = CallTracker(MappingConfig())
    before, later = feed_all(tracker, events[:at]), feed_all(tracker, events[at:])
    assert {event.params["tenant"] for event in before} <= {""}
    assert later
    assert {event.params["tenant"] for event in later} == {"acme"}


def test_the_first_tenant_set_counts() -> None:
    """Given TENANT set on the caller, then set differently on the dialed channel, then the caller's stays."""
    events, _ = with_variable("PJSIP/201", "SIPDOMAIN", "__TENANT", "acme")
    at = index_of(events, "VarSet", "PJSIP/202", Variable="DIALEDPEERNUMBER")
    other = replace(events[at], headers=MappingProxyType({**events[at].headers, "Variable": "TENANT", "Value": "x"}))
    assert set(tenants([*events[: at + 1], other, *events[at + 1 :]])) == {"acme"}


def test_other_variables_are_no_tenant() -> None:
    """Given a variable that only ends with TENANT (MY_TENANT), then no tenant."""
    events, _ = with_variable("PJSIP/201", "SIPDOMAIN", "MY_TENANT", "acme")
    assert set(tenants(events)) == {""}


@pytest.mark.parametrize("variable", ["_TENANT", "__TENANT"])
def test_prefixed_tenant_is_logged_and_never_skimmed(variable: str) -> None:
    """Given a VarSet of a prefixed TENANT, then the tracker log files it under its call and the skimming decoder
    parses it in full (both read the variable as the dialplan means it)."""
    _, added = with_variable("PJSIP/201", "SIPDOMAIN", variable, "acme")
    assert log_key(added) == added.get("Linkedid")
    frame = encode_event(added)
    assert skim(frame) == ""
    (decoded,) = FrameDecoder(skim=skim).feed_events(b"Asterisk Call Manager/11.0.0\r\n" + frame + b"\r\n\r\n", 0.0)
    assert (decoded.get("Variable"), decoded.get("Value")) == (variable, "acme")
