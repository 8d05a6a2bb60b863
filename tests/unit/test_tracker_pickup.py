"""Directed pickup as Asterisk 22 reports it (recorded trace 25): no DialBegin to the picker (docs/call-model.md).

201 dials 202; 203 dials `*8202` (`PickupChan`). The caller's `DialEnd DialStatus: ANSWER` names 203's channel,
still in 203's own call; 202 hangs up with cause 26. The older form (a DialBegin from the ringing call to the
picker's Up channel) is trace pub_caco_sip_pickup.
"""

from __future__ import annotations

from agent.mapping.catalog import CALL_ANSWERED, CALL_INCOMING, RINGING
from agent.mapping.config import MappingConfig
from agent.mapping.tracker import CallTracker
from tests.support.tracker import feed_all, index_of, names, trace_events

STEM = "25_internal_pickup_203_picks_202"
CALLER_CALL = "1796395682.25"


class TestAsterisk22Pickup:
    def test_the_picker_is_offered_and_answers_at_the_dialend(self) -> None:
        """Given trace 25, then 203 is offered at the caller's DialEnd ANSWER (no ringing, ring 0 s) and answers
        the call; 202's cancelled leg gives no call_hangup; everything belongs to the caller's call."""
        events = trace_events(STEM)
        tracker = CallTracker(MappingConfig())
        emitted = feed_all(tracker, events)
        answer = events[index_of(events, "DialEnd", "PJSIP/201", DialStatus="ANSWER")]
        assert names(emitted) == [(CALL_INCOMING, "202"), (RINGING, "202"), (CALL_INCOMING, "203"),
                                  (CALL_ANSWERED, "203")]  # fmt: skip
        picked = emitted[2].params
        assert (picked["unix_time"], picked["ring_duration"]) == (str(int(answer.time)), "0")
        assert {event.call_id for event in emitted} == {CALLER_CALL}
        assert emitted[-1].params["answered_extensions"] == "203"

    def test_nothing_is_left_behind(self) -> None:
        """Given trace 25, then both calls (the caller's and the picker's own `*8202` call) are closed."""
        tracker = CallTracker(MappingConfig())
        feed_all(tracker, trace_events(STEM))
        assert (tracker.calls_in_progress, tracker.tracked_channels) == (0, 0)

    def test_a_repeated_dialend_offers_once(self) -> None:
        """Given trace 25 with the caller's DialEnd ANSWER sent twice, then 203 is offered once."""
        events = trace_events(STEM)
        at = index_of(events, "DialEnd", "PJSIP/201", DialStatus="ANSWER")
        emitted = feed_all(CallTracker(MappingConfig()), [*events[: at + 1], events[at], *events[at + 1 :]])
        assert names(emitted).count((CALL_INCOMING, "203")) == 1
