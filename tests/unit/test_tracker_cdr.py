"""Reconnects repaired by Cdr (docs/call-model.md, Reconnects and Cdr), on real traces cut as a reconnect cuts them.

Each case drops a window of a recorded Asterisk 22 trace (the events the agent misses while its link is down),
gives the tracker the CoreShowChannels snapshot the PBX would have answered when the agent logged in again,
and feeds the rest. The trace's golden completion event (written from the whole trace) must come out: the
Cdrs that arrive after the reconnect tell what the snapshot could not (a callee that answered and left while
the link was down, or when a callee found Up had answered).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.ami.events import AmiEvent
from agent.devtools.trace import read_events, renumbered
from agent.mapping.catalog import CALL_ANSWERED, CALL_HANGUP, CALL_INCOMING, CALL_UNANSWERED, RINGING, SystemEvent
from agent.mapping.completion import CDR_WAIT
from agent.mapping.config import MappingConfig
from agent.mapping.tracker import CallTracker
from tests.support.paths import TRACES
from tests.support.tracker import (
    expected_lines,
    feed_all,
    index_of,
    names,
    near,
    reconnect,
    reconnect_replay,
    trace_events,
)

COMPLETIONS = {CALL_ANSWERED, CALL_UNANSWERED}
EXACT = ("extension", "direction", "caller_id", "calling_name", "called_number", "unix_time")


@dataclass(frozen=True)
class Cut:
    """A reconnect into a trace: the link drops after event `lost` and is back before event `back`."""

    stem: str
    lost: tuple[str, str, int]  # (event, channel prefix, nth): the last event seen before the loss
    back: tuple[str, str, int]  # the first event seen after the login
    before: str = ""  # a trace the agent saw earlier on the same link
    why: str = ""

    def events(self, strip_cdr: bool = False) -> tuple[list[AmiEvent], int, int]:
        events = [event for event in trace_events(self.stem) if not (strip_cdr and event.name == "Cdr")]
        return events, index_of(events, *self.lost) + 1, index_of(events, *self.back)

    def replay(self, strip_cdr: bool = False) -> list[SystemEvent]:
        events, lost, back = self.events(strip_cdr)
        before = trace_events(self.before) if self.before else []
        return [e for e in reconnect_replay(events, lost, back, MappingConfig(), before) if e.call_id in ids(self)]


CUTS = [
    Cut("32_inbound_blind_transfer_202_to_203", ("DialState", "PJSIP/trunk", 0), ("Newstate", "PJSIP/203", 1),
        why="202 answers, is blind-transferred away and hangs up while the link is down; 203 rings at the login"),
    Cut("35_internal_unavailable_then_202", ("DialState", "PJSIP/201", 0), ("Hangup", "PJSIP/201", 0),
        before="01_internal_answered_caller_hangup",
        why="202 answers and hangs up while the link is down; the caller's Cdr comes after its own hangup"),
    Cut("09_inbound_ringgroup_203_answers", ("DialState", "PJSIP/trunk", 2), ("HangupRequest", "PJSIP/trunk", 0),
        why="203 answers (202, 204 cancelled) while the link is down: the snapshot shows 203 Up, not since when"),
    Cut("08_outbound_trunk_answered", ("DialState", "PJSIP/201", 0), ("Cdr", "PJSIP/201", 0),
        why="the carrier answers while the link is down: the snapshot shows the trunk Up, not since when"),
    Cut("21_inbound_ringgroup_local_204_answers", ("DialState", "PJSIP/trunk", 2), ("Cdr", "PJSIP/trunk", 0),
        why="204 answers through its Local channel while the link is down; its Cdr names the Local ;2 as party A"),
]  # fmt: skip


def ids(cut: Cut) -> set[str]:
    return {line["params"]["call_id"] for line in expected_lines(TRACES / f"{cut.stem}.ami")}


def golden(cut: Cut) -> list[dict[str, object]]:
    return expected_lines(TRACES / f"{cut.stem}.ami")


def completion_of(emitted: list[SystemEvent]) -> dict[str, str]:
    (final,) = [event for event in emitted if event.name in COMPLETIONS]
    assert emitted[-1].name == final.name
    return {"event": final.name, **final.params}


def mismatches(expected: dict[str, object], ours: dict[str, str]) -> list[str]:
    params = expected["params"]
    assert isinstance(params, dict)
    wrong = [key for key in EXACT if ours[key] != params[key]]
    wrong += [key for key in ("duration", "talk_duration") if not near(key, params[key], ours[key])]
    return wrong + (["event"] if ours["event"] != expected["event"] else [])


class TestCdrRepairsTheCompletion:
    @pytest.mark.parametrize("cut", CUTS, ids=[cut.stem[:2] for cut in CUTS])
    def test_completion_matches_the_golden(self, cut: Cut) -> None:
        """Given a real trace cut by a reconnect, when replayed with its Cdrs, then the completion event is the
        golden one (durations +-1 s: Cdr times are whole seconds), neither reconciled nor adopted."""
        ours = completion_of(cut.replay())
        expected = next(line for line in golden(cut) if line["event"] in COMPLETIONS)
        assert mismatches(expected, ours) == [], cut.why
        assert (ours["reconciled"], ours["adopted"]) == ("", "")

    @pytest.mark.parametrize("cut", CUTS, ids=[cut.stem[:2] for cut in CUTS])
    def test_events_before_the_loss_are_the_golden_ones(self, cut: Cut) -> None:
        """Given the same cut, then every per-leg event emitted is one of the golden's, in the golden's order
        (those caused by missed events are simply missing)."""
        ours = [
            (e.name, e.params["extension"], e.params["unix_time"]) for e in cut.replay() if e.name not in COMPLETIONS
        ]
        want = [(line["event"], line["params"]["extension"], line["params"]["unix_time"]) for line in golden(cut)]
        positions = [want.index(item) for item in ours]
        assert positions == sorted(set(positions))


class TestWithoutCdr:
    def test_a_callee_gone_unseen_is_lost_without_cdr(self) -> None:
        """Given trace 32 cut as above but no Cdr on the link (no cdr_manager), then the call is answered by the
        transfer target 203 only: 202's answer happened while the link was down and nothing tells it."""
        ours = completion_of(CUTS[0].replay(strip_cdr=True))
        assert (ours["event"], ours["extension"], ours["answered_extensions"]) == (CALL_ANSWERED, "203", "203")

    def test_unanswered_without_cdr(self) -> None:
        """Given trace 35 cut as above with no Cdr anywhere, then 202's leg ends with a call_hangup and the call
        is unanswered: the snapshot showed only the caller."""
        emitted = CUTS[1].replay(strip_cdr=True)
        assert names(emitted)[-2:] == [(CALL_HANGUP, "202"), (CALL_UNANSWERED, "209")]

    def test_nothing_waits_before_a_cdr_was_seen(self) -> None:
        """Given trace 35 cut as above, when the agent saw no Cdr on this link before, then the call completes at
        its last hangup without waiting (unanswered: its Cdr arrives after it)."""
        events, lost, back = CUTS[1].events()
        emitted = reconnect_replay(events, lost, back, MappingConfig())
        assert names(emitted)[-2:] == [(CALL_HANGUP, "202"), (CALL_UNANSWERED, "209")]


class TestWaitingForTheCdr:
    def waiting(self) -> tuple[CallTracker, float]:
        """Trace 35 cut as above, its Cdr lost (or batched by cdr.conf): the call waits; (tracker, its end)."""
        cut = CUTS[1]
        events, lost, back = cut.events(strip_cdr=True)
        tracker = CallTracker(MappingConfig())
        assert names(reconnect(tracker, events, lost, back, trace_events(cut.before)))[-2:] == [
            (CALL_INCOMING, "202"),
            (RINGING, "202"),
        ]
        assert tracker.calls_in_progress == 1
        return tracker, events[back].time

    def test_a_late_cdr_is_awaited_then_given_up(self, tmp_path: Path) -> None:
        """Given a call waiting for its Cdr, when the next event comes CDR_WAIT s of AMI time after its end (a
        later call), then the call completes first, with the time of its end, then that event's own events."""
        tracker, end = self.waiting()
        later = tmp_path / "later.ami"
        source = (TRACES / "01_internal_answered_caller_hangup.ami").read_bytes()
        later.write_bytes(renumbered(source, 1, end + CDR_WAIT + 60 - 1795871929))
        released = feed_all(tracker, read_events(later))
        assert names(released)[:2] == [(CALL_HANGUP, "202"), (CALL_UNANSWERED, "209")]
        assert released[1].params["unix_time"] == str(int(end))
        assert names(released)[2:] == [(CALL_INCOMING, "202"), (RINGING, "202"), (CALL_ANSWERED, "202")]

    def test_expiry_releases_a_waiting_call(self) -> None:
        """Given the same waiting call and a quiet PBX, when housekeeping runs CDR_WAIT s after the end, then the
        call completes then (housekeeping runs on the AMI clock)."""
        tracker, end = self.waiting()
        assert tracker.expire(end + CDR_WAIT / 2) == []
        assert names(tracker.expire(end + CDR_WAIT)) == [(CALL_HANGUP, "202"), (CALL_UNANSWERED, "209")]
        assert tracker.calls_in_progress == 0

    def test_a_resync_releases_a_waiting_call(self) -> None:
        """Given the same waiting call, when the link drops and comes back, then the call completes at that
        resync (its Cdr, if any, was lost with the link), with the time of its end."""
        tracker, end = self.waiting()
        emitted = tracker.resync([], end + 60)
        assert names(emitted) == [(CALL_HANGUP, "202"), (CALL_UNANSWERED, "209")]
        assert (emitted[-1].params["unix_time"], emitted[-1].params["reconciled"]) == (str(int(end)), "")


def test_cut_cases_are_real_traces() -> None:
    """The cut traces are fixtures with goldens (guards the parametrization above)."""
    assert all((TRACES / f"{cut.stem}.expected.jsonl").is_file() for cut in CUTS)
    assert Path(TRACES / f"{CUTS[1].before}.ami").is_file()
