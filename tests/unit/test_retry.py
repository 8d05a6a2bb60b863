"""The retry policy: classification, Retry-After, backoff, profiles and windows (pure, time passed in)."""

from __future__ import annotations

import pytest

from agent.settings import DeliverySettings
from agent.webhooks.retry import AttemptResult, RetryPolicy, classify, retry_after_delay

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class TestClassify:
    @pytest.mark.parametrize(
        ("status", "outcome"),
        [
            (200, "delivered"), (201, "delivered"), (204, "delivered"), (299, "delivered"),
            (0, "retry"), (408, "retry"), (429, "retry"), (500, "retry"), (502, "retry"), (503, "retry"),
            (599, "retry"),
            (301, "give_up"), (302, "give_up"), (307, "give_up"), (308, "give_up"),
            (400, "give_up"), (401, "give_up"), (403, "give_up"), (404, "give_up"), (410, "give_up"),
            (422, "give_up"), (100, "give_up"),
        ],
    )
    def test_status(self, status: int, outcome: str) -> None:
        """Given an HTTP status, when classified, then it is delivered, retried or given up per docs/delivery.md."""
        assert classify(status) == outcome


class TestRetryAfter:
    @pytest.mark.parametrize(
        ("header", "delay"),
        [
            (None, None), ("", None), ("soon", None), ("-5", None), ("1.5", None),
            ("0", 0.0), ("7", 7.0), (" 120 ", 120.0),
            ("Tue, 14 Nov 2023 22:13:50 GMT", 30.0),
            ("Tue, 14 Nov 2023 22:13:00 GMT", 0.0),
            ("Tuesday, 14-Nov-23 22:14:20 GMT", 60.0),
        ],
    )
    def test_parse(self, header: str | None, delay: float | None) -> None:
        """Given a Retry-After header at NOW, when parsed, then the wait in seconds (None when unusable)."""
        assert retry_after_delay(header, NOW) == delay


class TestPolicy:
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0, live_window=30.0, final_window=86400.0)

    @pytest.mark.parametrize(("attempts", "delay"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (500, 8.0)])
    def test_backoff(self, attempts: int, delay: float) -> None:
        """Given n failed attempts, when backing off, then the delay doubles from initial and is capped."""
        assert self.policy.backoff(attempts) == delay

    @pytest.mark.parametrize(
        ("event", "profile", "expires"),
        [("call_incoming", "live", 30.0), ("ringing", "live", 30.0), ("call_hangup", "final", 86400.0),
         ("call_answered", "final", 86400.0), ("call_unanswered", "final", 86400.0)],
    )
    def test_profiles(self, event: str, profile: str, expires: float) -> None:
        """Given an event, when profiled, then live events get the short window and final ones about a day."""
        assert self.policy.profile_for(event) == profile
        assert self.policy.expires_at(self.policy.profile_for(event), NOW) == NOW + expires

    @pytest.mark.parametrize(
        ("status", "retry_after", "attempts", "state", "next_at"),
        [
            (200, None, 1, "delivered", NOW),
            (500, None, 1, "pending", NOW + 1),
            (503, None, 3, "pending", NOW + 4),
            (0, None, 9, "pending", NOW + 8),
            (429, "5", 1, "pending", NOW + 5),
            (503, "Tue, 14 Nov 2023 22:13:32 GMT", 1, "pending", NOW + 12),
            (429, "garbage", 2, "pending", NOW + 2),
            (404, None, 1, "failed", NOW),
            (302, None, 1, "failed", NOW),
            (429, "100000", 1, "expired", NOW),
        ],
    )
    def test_decide(self, status: int, retry_after: str | None, attempts: int, state: str, next_at: float) -> None:
        """Given a final delivery's attempt result, when decided, then its next state and attempt time."""
        result = AttemptResult(status, "", 1.0, retry_after)
        decision = self.policy.decide(result, attempts, expires_at=NOW + 86400, now=NOW)
        assert (decision.state, decision.next_attempt_at) == (state, next_at)

    def test_permanent(self) -> None:
        """Given an attempt that can never succeed (no response, permanent), when decided, then it is given up."""
        decision = self.policy.decide(AttemptResult(0, "invalid URL", 0.0, permanent=True), 1, NOW + 60, NOW)
        assert decision.state == "failed"

    def test_live_expires(self) -> None:
        """Given a live delivery whose endpoint stays down, when retried, then it expires within 30 s."""
        created, now, attempts = NOW, NOW, 0
        expires = self.policy.expires_at("live", created)
        times = []
        while True:
            attempts += 1
            times.append(now - created)
            decision = self.policy.decide(AttemptResult(0, "refused", 1.0), attempts, expires, now)
            if decision.state != "pending":
                break
            now = decision.next_attempt_at
        assert decision.state == "expired"
        assert times == [0, 1, 3, 7, 15, 23]

    def test_from_settings(self) -> None:
        """Given delivery settings, when the policy is built, then it carries their values."""
        delivery = DeliverySettings(retry_initial_delay=0.1, retry_max_delay=2, live_retry_window=3,
                                    final_retry_window=4)
        assert RetryPolicy.from_settings(delivery) == RetryPolicy(0.1, 2.0, 3.0, 4.0)
