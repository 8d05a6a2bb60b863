"""CallTracker units: duplicates, noise, ordering, unknown channels, failed Dial, originate, rating, memory."""

from __future__ import annotations

import ast
import re
import sys
from decimal import Decimal

from agent.devtools.replay import fixture_config
from agent.mapping.config import MappingConfig, Rating
from agent.mapping.rating import Rate, RateTable
from agent.mapping.tracker import CallTracker
from tests.support.paths import ROOT
from tests.support.tracker import (
    T0,
    TRACES,
    chan,
    dial,
    event,
    feed_all,
    hangup,
    internal_call,
    names,
    newchannel,
    newstate,
    trace_events,
    with_variables,
)

A = ("PJSIP/201-00000001", "1795872000.1", "1795872000.1")
B = ("PJSIP/202-00000002", "1795872000.2", "1795872000.1")


Emitted = list[tuple[str, dict[str, str]]]


def replay_events(stem: str, tracker: CallTracker | None = None) -> tuple[CallTracker, Emitted]:
    tracker = tracker or CallTracker(fixture_config(TRACES / f"{stem}.ami"))
    emitted = feed_all(tracker, trace_events(stem))
    return tracker, [(item.name, dict(item.params)) for item in emitted]


class TestMemory:
    def test_load_trace_leaves_nothing(self) -> None:
        """Given the 35-call load trace, when replayed, then no call and no channel is held afterwards."""
        tracker, emitted = replay_events("13_load_mixed_35_calls")
        assert len([name for name, _ in emitted if name in {"call_answered", "call_unanswered"}]) == 35
        assert (tracker.calls_in_progress, tracker.tracked_channels) == (0, 0)

    def test_calls_in_progress_counts_open_calls(self) -> None:
        """Given two calls answered but not hung up, then two calls are in progress; after hangups none."""
        tracker = CallTracker(MappingConfig())
        first, first_end = internal_call("1795872000.1", "1795872000.2")
        second, second_end = internal_call("1795872000.3", "1795872000.4")
        feed_all(tracker, first + second)
        assert tracker.calls_in_progress == 2
        feed_all(tracker, first_end + second_end)
        assert (tracker.calls_in_progress, tracker.tracked_channels) == (0, 0)


class TestDuplicates:
    def test_every_event_twice_changes_nothing(self) -> None:
        """Given the ring-group trace, when every event arrives twice, then the output is identical."""
        _, once = replay_events("09_inbound_ringgroup_203_answers")
        tracker = CallTracker(MappingConfig())
        doubled = [item for item in trace_events("09_inbound_ringgroup_203_answers") for item in (item, item)]
        twice = [(item.name, dict(item.params)) for item in feed_all(tracker, doubled)]
        assert twice == once

    def test_event_ids_are_unique_and_stable(self) -> None:
        """Given the load trace replayed twice, then event_ids are unique and the same each time."""
        _, first = replay_events("13_load_mixed_35_calls")
        _, second = replay_events("13_load_mixed_35_calls")
        ids = [params["event_id"] for _, params in first]
        assert len(set(ids)) == len(ids)
        assert ids == [params["event_id"] for _, params in second]


class TestNoise:
    def test_varset_flood_changes_nothing(self) -> None:
        """Given 20,000 VarSet/RTCP events inside a call, when fed, then the output and memory are unchanged."""
        events = trace_events("01_internal_answered_caller_hangup")
        _, plain = replay_events("01_internal_answered_caller_hangup")
        uid = next(item.get("Uniqueid") for item in events if item.name == "Newchannel")
        middle = next(n for n, item in enumerate(events) if item.name == "DialBegin") + 1
        time = events[middle].time
        flood = [event("VarSet", time, Uniqueid=uid, Variable=f"V{n}", Value="x") for n in range(10_000)]
        flood += [event("RTCPSent", time, Uniqueid=uid, Linkedid=uid) for _ in range(10_000)]
        tracker = CallTracker(MappingConfig())
        before = feed_all(tracker, events[:middle])
        channels = tracker.tracked_channels
        assert feed_all(tracker, flood) == []
        assert tracker.tracked_channels == channels
        after = feed_all(tracker, events[middle:])
        assert [(item.name, dict(item.params)) for item in before + after] == plain

    def test_unknown_channels_are_ignored(self) -> None:
        """Given events about channels never announced by Newchannel, when fed, then nothing is emitted or kept."""
        tracker = CallTracker(MappingConfig())
        stray = [
            newstate(T0, *B, state=5),
            dial("DialBegin", T0, A, B),
            dial("DialEnd", T0 + 1, A, B, DialStatus="ANSWER"),
            event("VarSet", T0, Uniqueid=A[1], Variable="DIALSTATUS", Value="CHANUNAVAIL"),
            hangup(T0 + 2, *A),
        ]
        assert feed_all(tracker, stray) == []
        assert (tracker.calls_in_progress, tracker.tracked_channels) == (0, 0)

    def test_events_without_linkedid_form_no_call(self) -> None:
        """Given an Asterisk 11 style Newchannel (no Linkedid), when fed, then no call is formed."""
        tracker = CallTracker(MappingConfig())
        legacy = event("Newchannel", T0, Channel="SIP/trunk-00000001", Uniqueid="1414510601.2")
        assert tracker.feed(legacy) == []
        assert tracker.calls_in_progress == 0


class TestOrdering:
    def test_hangup_before_dialend(self) -> None:
        """Given the callee's Hangup (cause 17) before DialEnd BUSY, then call_hangup by callee, then completion."""
        tracker = CallTracker(MappingConfig())
        start = [newchannel(T0, *A, state=4, Exten="202"), newchannel(T0, *B), dial("DialBegin", T0, A, B)]
        emitted = feed_all(tracker, [*start, hangup(T0 + 1, *B, cause="17")])
        emitted += feed_all(tracker, [dial("DialEnd", T0 + 1, A, B, DialStatus="BUSY"), hangup(T0 + 1, *A)])
        assert names(emitted) == [("call_incoming", "202"), ("call_hangup", "202"), ("call_unanswered", "202")]
        assert emitted[1].params["hangup_by"] == "callee"

    def test_dialend_after_completion_is_harmless(self) -> None:
        """Given both Hangups before any DialEnd, then the open leg ends unanswered and the late DialEnd is ignored."""
        tracker = CallTracker(MappingConfig())
        start = [newchannel(T0, *A, state=4, Exten="202"), newchannel(T0, *B), dial("DialBegin", T0, A, B)]
        emitted = feed_all(tracker, [*start, hangup(T0 + 3, *B, cause="0"), hangup(T0 + 3, *A, cause="127")])
        late = tracker.feed(dial("DialEnd", T0 + 3, A, B, DialStatus="CANCEL"))
        assert names(emitted) == [("call_incoming", "202"), ("call_hangup", "202"), ("call_unanswered", "202")]
        assert late == []
        assert tracker.calls_in_progress == 0

    def test_cancel_then_answer_elsewhere_is_dropped(self) -> None:
        """Given a ring-group loser's CANCEL before the winner's ANSWER, then no call_hangup for the loser."""
        tracker = CallTracker(MappingConfig())
        c = ("PJSIP/203-00000003", "1795872000.3", A[2])
        events = [
            newchannel(T0, *A, state=4, Exten="600"),
            newchannel(T0, *B),
            newchannel(T0, *c),
            dial("DialBegin", T0, A, B),
            dial("DialBegin", T0, A, c),
            dial("DialEnd", T0 + 2, A, B, DialStatus="CANCEL"),
            dial("DialEnd", T0 + 2, A, c, DialStatus="ANSWER"),
            hangup(T0 + 2, *B, cause="26"),
            hangup(T0 + 4, *A),
            hangup(T0 + 4, *c),
        ]
        emitted = feed_all(tracker, events)
        assert names(emitted) == [("call_incoming", "202"), ("call_incoming", "203"), ("call_answered", "203")]
        assert emitted[-1].params["offered_extensions"] == "202,203"


class TestFailedDial:
    def test_chanunavail_without_channel_offers_each_named_extension(self) -> None:
        """Given Dial(PJSIP/209&PJSIP/208) failing with CHANUNAVAIL, then incoming+hangup for each, then unanswered."""
        tracker = CallTracker(MappingConfig())
        events = [
            newchannel(T0, *A, state=4, Exten="209"),
            event("Newexten", T0, Uniqueid=A[1], Application="Dial", AppData="PJSIP/209&PJSIP/208,5,tT"),
            event("VarSet", T0, Uniqueid=A[1], Variable="DIALSTATUS", Value="CHANUNAVAIL"),
            hangup(T0 + 0.2, *A, cause="3"),
        ]
        emitted = feed_all(tracker, events)
        assert names(emitted) == [
            ("call_incoming", "209"),
            ("call_hangup", "209"),
            ("call_incoming", "208"),
            ("call_hangup", "208"),
            ("call_unanswered", "209"),
        ]
        assert {item.params["dial_status"] for item in emitted[:4] if item.name == "call_hangup"} == {"CHANUNAVAIL"}

    def test_chanunavail_after_a_dialbegin_offers_nothing_new(self) -> None:
        """Given a leg with a DialBegin, when DIALSTATUS=CHANUNAVAIL follows, then no second call_incoming."""
        tracker = CallTracker(MappingConfig())
        events = [
            newchannel(T0, *A, state=4, Exten="202"),
            event("Newexten", T0, Uniqueid=A[1], Application="Dial", AppData="PJSIP/202,5"),
            newchannel(T0, *B),
            dial("DialBegin", T0, A, B),
            dial("DialEnd", T0, A, B, DialStatus="CHANUNAVAIL"),
            event("VarSet", T0, Uniqueid=A[1], Variable="DIALSTATUS", Value="CHANUNAVAIL"),
        ]
        assert names(feed_all(tracker, events)) == [("call_incoming", "202"), ("call_hangup", "202")]


class TestOriginate:
    def test_originated_caller_is_not_a_leg(self) -> None:
        """Given an Originate to 201 that then dials 202, then only 202 is a leg; caller_id is 201."""
        tracker = CallTracker(MappingConfig())
        events = [
            newchannel(T0, *A, CallerIDName="Click to dial"),
            dial("DialBegin", T0, None, A),
            dial("DialEnd", T0 + 1, None, A, DialStatus="ANSWER"),
            newchannel(T0 + 1, *B),
            event("DialBegin", T0 + 1, **chan("", *A, state=6, Exten="202"), **chan("Dest", *B)),
            dial("DialEnd", T0 + 3, A, B, DialStatus="ANSWER"),
            hangup(T0 + 6, *A),
            hangup(T0 + 6, *B),
        ]
        emitted = feed_all(tracker, events)
        assert names(emitted) == [("call_incoming", "202"), ("call_answered", "202")]
        final = emitted[-1].params
        assert (final["caller_id"], final["called_number"], final["talk_duration"]) == ("201", "202", "3")


class TestParameters:
    def test_tenant_variable_pattern_and_default(self) -> None:
        """Given TENANT channel variable / tenant pattern / tenant setting, then tenant follows that order."""
        config = MappingConfig(tenant="acme", tenant_pattern=re.compile(r"^(\w+)-internal$"))
        callers = [
            with_variables(newchannel(T0, *A, state=4, Context="blue-internal"), TENANT="t42"),
            newchannel(T0, *A, state=4, Context="blue-internal"),
            newchannel(T0, *A, state=4, Context="internal"),
        ]
        tenants = []
        for caller in callers:
            emitted = feed_all(CallTracker(config), [caller, newchannel(T0, *B), dial("DialBegin", T0, A, B)])
            tenants.append(emitted[0].params["tenant"])
        assert tenants == ["t42", "blue", "acme"]

    def test_time_in_configured_zone(self) -> None:
        """Given TIMEZONE Europe/Amsterdam, then date/time are local and unix_time is whole epoch seconds."""
        tracker = CallTracker(MappingConfig(timezone="Europe/Amsterdam"))
        head, _ = internal_call(A[1], B[1], start=1795871929.9)
        incoming = feed_all(tracker, head)[0].params
        assert (incoming["date"], incoming["time"], incoming["unix_time"]) == ("2026-11-28", "14:18:49", "1795871929")

    def test_rater_prices_answered_outbound_calls(self) -> None:
        """Given a rate for prefix 1555 (per minute, 60 s increment), then the outbound call gets a cost."""
        table = RateTable([Rate("1555", Decimal("0.60"), Decimal("0"), 0, 60)])
        tracker = CallTracker(MappingConfig())
        tracker.set_rater(table)
        _, emitted = replay_events("08_outbound_trunk_answered", tracker)
        final = emitted[-1][1]
        expected = table.rate("15551239876", 4.0)
        assert isinstance(expected, Rating)
        assert (final["call_cost"], final["call_rating_duration"]) == (expected.cost, "60")

    def test_no_rater_means_whole_seconds_and_no_cost(self) -> None:
        """Given no rater, then call_cost is "" and call_rating_duration is the billable seconds rounded up."""
        _, emitted = replay_events("08_outbound_trunk_answered")
        final = emitted[-1][1]
        assert final["call_cost"] == ""
        assert int(final["call_rating_duration"]) in {4, 5}

    def test_rater_ignores_inbound_calls(self) -> None:
        """Given a rater matching everything, when an inbound call is answered, then call_cost stays ""."""
        tracker = CallTracker(MappingConfig())
        tracker.set_rater(RateTable([Rate("1", Decimal("1"), Decimal("0"), 0, 1)]))
        _, emitted = replay_events("07_inbound_trunk_answered", tracker)
        assert emitted[-1][1]["call_cost"] == ""


class TestPurity:
    def test_mapping_imports_only_stdlib_and_ami_events(self) -> None:
        """Given every module of agent/mapping, when its imports are parsed, then only stdlib and allowed ones."""
        folder = ROOT / "agent" / "mapping"
        allowed = set(sys.stdlib_module_names) | {"agent.ami.events", "agent.mapping"}
        bad = []
        for module in sorted(folder.glob("*.py")):
            for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
                for imported in imported_names(node):
                    root = imported.split(".")[0]
                    ok = root in allowed or imported == "agent.ami.events" or imported.startswith("agent.mapping")
                    if not ok:
                        bad.append(f"{module.name}: {imported}")
        assert bad == []


def imported_names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module]
    return []
