"""CallTracker resync and expiry: reconciled calls, adopted calls, stuck calls."""

from __future__ import annotations

from agent.mapping.config import MappingConfig
from agent.mapping.tracker import CallTracker
from tests.support.paths import FIXTURES
from tests.support.tracker import T0, dial, feed_all, hangup, internal_call, names, newstate

SAMPLE_AT = 1795873198.0


def snapshot_sample() -> list[dict[str, str]]:
    """The CoreShowChannel header maps of the real Asterisk 22 response sample."""
    text = (FIXTURES / "coreshowchannels_response_sample.txt").read_text(encoding="utf-8").replace("\r\n", "\n")
    frames = [dict(line.split(": ", 1) for line in block.splitlines() if ": " in line) for block in text.split("\n\n")]
    return [frame for frame in frames if frame.get("Event") == "CoreShowChannel"]


def live(*parties: tuple[str, str, str]) -> list[dict[str, str]]:
    return [{"Channel": name, "Uniqueid": uid, "Linkedid": linked} for name, uid, linked in parties]


def sample_channel(name_prefix: str) -> tuple[str, str, str]:
    frame = next(frame for frame in snapshot_sample() if frame["Channel"].startswith(name_prefix))
    return frame["Channel"], frame["Uniqueid"], frame["Linkedid"]


class TestResyncReconcile:
    def test_vanished_call_completes_reconciled(self) -> None:
        """Given an answered call, when a resync lists none of its channels, then call_answered with reconciled=1."""
        tracker = CallTracker(MappingConfig())
        head, _ = internal_call("1795872000.1", "1795872000.2")
        feed_all(tracker, head)
        emitted = tracker.resync([], T0 + 10)
        assert names(emitted) == [("call_answered", "202")]
        assert (emitted[0].params["reconciled"], emitted[0].params["unix_time"]) == ("1", str(int(T0 + 10)))
        assert (tracker.calls_in_progress, tracker.tracked_channels) == (0, 0)

    def test_vanished_call_ends_when_the_link_was_lost(self) -> None:
        """Given the link lost 4 s after the start, when the resync finds nothing, then duration ends at the loss."""
        tracker = CallTracker(MappingConfig())
        head, _ = internal_call("1795872000.1", "1795872000.2")
        feed_all(tracker, head)
        assert tracker.connection_lost(T0 + 4) == []
        final = tracker.resync([], T0 + 30)[0].params
        assert (final["duration"], final["talk_duration"]) == ("4", "2")

    def test_live_calls_are_untouched(self) -> None:
        """Given two calls, when the resync lists only the second, then only the first completes (reconciled)."""
        tracker = CallTracker(MappingConfig())
        first, _ = internal_call("1795872000.1", "1795872000.2")
        second, second_end = internal_call("1795872000.3", "1795872000.4")
        feed_all(tracker, first + second)
        still = live(
            ("PJSIP/201-00000001", "1795872000.3", "1795872000.3"),
            ("PJSIP/202-00000002", "1795872000.4", "1795872000.3"),
        )
        emitted = tracker.resync(still, T0 + 3)
        assert [item.call_id for item in emitted] == ["1795872000.1"]
        final = feed_all(tracker, second_end)
        assert names(final) == [("call_answered", "202")]
        assert (final[0].params["reconciled"], final[0].params["adopted"]) == ("", "")

    def test_partly_vanished_call_continues(self) -> None:
        """Given a call whose callee vanished but whose caller is live, then it completes at the caller's Hangup."""
        tracker = CallTracker(MappingConfig())
        head, hangups = internal_call("1795872000.1", "1795872000.2")
        feed_all(tracker, head)
        assert tracker.resync(live(("PJSIP/201-00000001", "1795872000.1", "1795872000.1")), T0 + 3) == []
        assert names(feed_all(tracker, hangups[:1])) == [("call_answered", "202")]


class TestResyncAdopt:
    def test_adoption_emits_nothing(self) -> None:
        """Given the real CoreShowChannels sample (three calls), when resynced, then three calls and no events."""
        tracker = CallTracker(MappingConfig())
        assert tracker.resync(snapshot_sample(), SAMPLE_AT) == []
        assert (tracker.calls_in_progress, tracker.tracked_channels) == (3, 6)

    def test_adopted_outbound_call_completes_adopted(self) -> None:
        """Given the adopted 204 -> trunk call, when both hang up, then call_answered outbound with adopted=1."""
        tracker = CallTracker(MappingConfig())
        tracker.resync(snapshot_sample(), SAMPLE_AT)
        caller, trunk = sample_channel("PJSIP/204"), sample_channel("PJSIP/trunk")
        emitted = feed_all(tracker, [hangup(SAMPLE_AT + 2, *caller), hangup(SAMPLE_AT + 2, *trunk)])
        assert names(emitted) == [("call_answered", "204")]
        final = emitted[0].params
        assert (final["direction"], final["called_number"], final["adopted"]) == ("outbound", "15551239876", "1")
        assert (final["duration"], final["talk_duration"]) == ("5", "2")

    def test_adopted_ringing_leg_follows_normal_rules(self) -> None:
        """Given the adopted 205 -> 203 call (ringing), when 205 cancels, then no ringing replay, hangup, unanswered."""
        tracker = CallTracker(MappingConfig())
        tracker.resync(snapshot_sample(), SAMPLE_AT)
        caller, callee = sample_channel("PJSIP/205"), sample_channel("PJSIP/203")
        events = [
            newstate(SAMPLE_AT + 0.5, *callee, state=5),
            dial("DialEnd", SAMPLE_AT + 1, caller, callee, DialStatus="CANCEL"),
            hangup(SAMPLE_AT + 1, *callee, cause="127"),
            hangup(SAMPLE_AT + 1, *caller, cause="127"),
        ]
        emitted = feed_all(tracker, events)
        assert names(emitted) == [("call_hangup", "203"), ("call_unanswered", "203")]
        assert [item.params["adopted"] for item in emitted] == ["1", "1"]
        assert emitted[0].params["hangup_by"] == "caller"


class TestExpire:
    def test_stuck_call_completes_after_the_limit(self) -> None:
        """Given a call with a lost Hangup, when expire runs before and after the limit, then it completes once."""
        tracker = CallTracker(MappingConfig(stuck_call_seconds=3600))
        head, _ = internal_call("1795872000.1", "1795872000.2")
        feed_all(tracker, head)
        assert tracker.expire(T0 + 3599) == []
        emitted = tracker.expire(T0 + 3601)
        assert names(emitted) == [("call_answered", "202")]
        assert (tracker.calls_in_progress, tracker.tracked_channels, tracker.expire(T0 + 9999)) == (0, 0, [])

    def test_call_without_legs_expires_silently(self) -> None:
        """Given an internal call that never dialed, when it expires, then no event and nothing kept."""
        tracker = CallTracker(MappingConfig(stuck_call_seconds=60))
        head, _ = internal_call("1795872000.1", "1795872000.2")
        feed_all(tracker, head[:1])
        assert tracker.expire(T0 + 61) == []
        assert tracker.calls_in_progress == 0
