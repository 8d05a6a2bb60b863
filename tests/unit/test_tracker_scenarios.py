"""CallTracker on Asterisk 22 style scenarios not covered by a recorded trace: pickup, forward, transfers, re-keying."""

from __future__ import annotations

from agent.mapping.config import MappingConfig
from agent.mapping.tracker import CallTracker
from tests.support.tracker import T0, chan, dial, event, feed_all, hangup, names, newchannel, newstate

A = ("PJSIP/201-00000001", "1795872000.1", "1795872000.1")
B = ("PJSIP/202-00000002", "1795872000.2", "1795872000.1")


class TestCancelResolution:
    def test_pickup_keeps_the_picker_in_the_ringing_call(self) -> None:
        """Given 202 ringing and 203 picking up (channel-less DialBegin, DestLinkedid = the call), then 203 answers."""
        picker_own = ("PJSIP/203-00000003", "1795872000.3", "1795872000.3")
        picker_moved = ("PJSIP/203-00000003", "1795872000.3", A[2])
        events = [
            newchannel(T0, *A, state=4, Exten="202"),
            newchannel(T0, *B),
            dial("DialBegin", T0, A, B),
            newstate(T0, *B, state=5),
            newchannel(T0 + 2, *picker_own, state=4, Exten="*8"),
            newstate(T0 + 2, *picker_own, state=6),
            dial("DialEnd", T0 + 2.1, A, B, DialStatus="CANCEL"),
            dial("DialBegin", T0 + 2.1, None, picker_moved, DestChannelState="6"),
            dial("DialEnd", T0 + 2.1, None, picker_moved, DialStatus="ANSWER"),
            hangup(T0 + 2.2, *B, cause="26"),
            hangup(T0 + 6, *A),
            hangup(T0 + 6, *picker_moved),
        ]
        tracker = CallTracker(MappingConfig())
        emitted = feed_all(tracker, events)
        assert names(emitted) == [
            ("call_incoming", "202"),
            ("ringing", "202"),
            ("call_incoming", "203"),
            ("call_answered", "203"),
        ]
        assert {item.call_id for item in emitted} == {A[2]}
        assert (tracker.calls_in_progress, tracker.tracked_channels) == (0, 0)

    def test_forward_emits_no_hangup_and_offers_the_target(self) -> None:
        """Given 202 forwarding (CANCEL + Forward: 204), then no call_hangup for 202 and 204 is offered."""
        d = ("PJSIP/204-00000004", "1795872000.4", A[2])
        events = [
            newchannel(T0, *A, state=4, Exten="202"),
            newchannel(T0, *B),
            dial("DialBegin", T0, A, B),
            dial("DialEnd", T0 + 1, A, B, DialStatus="CANCEL", Forward="204"),
            hangup(T0 + 1, *B, cause="16"),
            newchannel(T0 + 1, *d),
            dial("DialBegin", T0 + 1, A, d),
            dial("DialEnd", T0 + 4, A, d, DialStatus="NOANSWER"),
            hangup(T0 + 4, *d, cause="0"),
            hangup(T0 + 4, *A),
        ]
        emitted = feed_all(CallTracker(MappingConfig()), events)
        assert names(emitted) == [
            ("call_incoming", "202"),
            ("call_incoming", "204"),
            ("call_hangup", "204"),
            ("call_unanswered", "202"),
        ]
        assert emitted[-1].params["offered_extensions"] == "202,204"


class TestTransfers:
    def test_attended_transfer_through_local_consult_is_a_leg(self) -> None:
        """Given 202 (answered) consulting 204 via a Local channel in the same Linkedid, then 204 is a second leg."""
        one = ("Local/204@internal-00000001;1", "1795872000.5", A[2])
        two = ("Local/204@internal-00000001;2", "1795872000.6", A[2])
        d = ("PJSIP/204-00000004", "1795872000.7", A[2])
        events = [
            newchannel(T0, *A, state=4, Exten="202"),
            newchannel(T0, *B),
            dial("DialBegin", T0, A, B),
            dial("DialEnd", T0 + 1, A, B, DialStatus="ANSWER"),
            newchannel(T0 + 3, *one),
            newchannel(T0 + 3, *two, state=4),
            dial("DialBegin", T0 + 3, None, one),
            newchannel(T0 + 3, *d),
            event("DialBegin", T0 + 3, **chan("", *two, state=4, Exten="204"), **chan("Dest", *d)),
            newstate(T0 + 3, *d, state=5),
            event("DialEnd", T0 + 5, DialStatus="ANSWER", **chan("", *two, state=4), **chan("Dest", *d, state=6)),
            dial("DialEnd", T0 + 5, None, one, DialStatus="ANSWER"),
            event("AttendedTransfer", T0 + 6, Result="Success"),
            hangup(T0 + 6, *B),
            hangup(T0 + 6, *one),
            hangup(T0 + 6, *two),
            hangup(T0 + 9, *A),
            hangup(T0 + 9, *d),
        ]
        emitted = feed_all(CallTracker(MappingConfig()), events)
        assert names(emitted) == [
            ("call_incoming", "202"),
            ("call_incoming", "204"),
            ("ringing", "204"),
            ("call_answered", "202"),
        ]
        final = emitted[-1].params
        assert (final["answered_extensions"], final["talk_duration"], final["duration"]) == ("202,204", "8", "9")

    def test_linkedid_change_moves_the_channel_and_closes_the_old_call(self) -> None:
        """Given 204 answered in consult call Y, when its Linkedid becomes X, then Y completes as its caller leaves."""
        y_caller = ("PJSIP/202-00000010", "1795872000.10", "1795872000.10")
        target = ("PJSIP/204-00000011", "1795872000.11", "1795872000.10")
        moved = ("PJSIP/204-00000011", "1795872000.11", A[2])
        events = [
            newchannel(T0, *A, state=4, Exten="202"),
            newchannel(T0, *B),
            dial("DialBegin", T0, A, B),
            dial("DialEnd", T0 + 1, A, B, DialStatus="ANSWER"),
            newchannel(T0 + 2, *y_caller, state=4, Exten="204"),
            newchannel(T0 + 2, *target),
            dial("DialBegin", T0 + 2, y_caller, target),
            dial("DialEnd", T0 + 3, y_caller, target, DialStatus="ANSWER"),
            hangup(T0 + 4, *B),
            event("BridgeEnter", T0 + 4, **chan("", *moved, state=6)),
            hangup(T0 + 4, *y_caller),
            hangup(T0 + 8, *A),
            hangup(T0 + 8, *moved),
        ]
        tracker = CallTracker(MappingConfig())
        emitted = feed_all(tracker, events)
        assert [(item.call_id, item.name) for item in emitted if item.name.startswith("call_a")] == [
            ("1795872000.10", "call_answered"),
            (A[2], "call_answered"),
        ]
        assert (tracker.calls_in_progress, tracker.tracked_channels) == (0, 0)


class TestForeignLinkedid:
    def test_leg_with_its_own_linkedid_still_rings_and_answers(self) -> None:
        """Given a DialBegin to a channel still in its own call, then it rings and answers as a leg of the dialer."""
        own = ("PJSIP/203-00000003", "1795872000.3", "1795872000.3")
        events = [
            newchannel(T0, *A, state=4, Exten="203"),
            newchannel(T0, *own),
            dial("DialBegin", T0, A, own),
            newstate(T0 + 1, *own, state=5),
            dial("DialEnd", T0 + 2, A, own, DialStatus="ANSWER"),
            hangup(T0 + 5, *own),
            hangup(T0 + 5, *A),
        ]
        tracker = CallTracker(MappingConfig())
        emitted = feed_all(tracker, events)
        assert names(emitted) == [("call_incoming", "203"), ("ringing", "203"), ("call_answered", "203")]
        assert (tracker.calls_in_progress, tracker.tracked_channels) == (0, 0)
