"""Rating on recorded calls: replaying outbound traces with a rate table gives the hand-computed call_cost."""

from __future__ import annotations

from decimal import Decimal

from agent.devtools.trace import read_events
from agent.mapping.catalog import CALL_ANSWERED, CALL_UNANSWERED, SystemEvent
from agent.mapping.config import MappingConfig
from agent.mapping.rating import Rate, RateTable
from agent.mapping.tracker import CallTracker
from tests.support.paths import TRACES

TABLE = RateTable([
    Rate("1", Decimal("0.02"), Decimal("0"), 60, 60, "North America"),
    Rate("1555", Decimal("0.05"), Decimal("0.10"), 30, 6, "Test range"),
    Rate("155598000", Decimal("0.60"), Decimal("0"), 1, 1, "Per second"),
    Rate("1555980001", Decimal("0.12"), Decimal("0"), 60, 60, "Per minute"),
    Rate("+1555980002", Decimal("0.09"), Decimal("0.02"), 30, 6, "Fee and minimum"),
])


def _completions(trace: str, table: RateTable | None) -> list[SystemEvent]:
    tracker = CallTracker(MappingConfig())
    tracker.set_rater(table)
    emitted: list[SystemEvent] = []
    for event in read_events(TRACES / trace):
        emitted += tracker.feed(event)
    return [event for event in emitted if event.name in {CALL_ANSWERED, CALL_UNANSWERED}]


def _param(event: SystemEvent, key: str) -> str:
    return str(event.params[key])


class TestRatingOnTraces:
    def test_outbound_answered(self) -> None:
        """Given trace 08 (201 -> 15551239876 via the trunk) and the table, then 30 s cost 0.13.

        DialEnd ANSWER at 1795872004.588782, last hangup (trunk) at 1795872008.596038: 4.007256 s billable,
        rounded up to 5 s. Longest prefix: 1555 (0.05/min, fee 0.10, 30/6): rated max(30, ceil(5/6)*6 = 6) = 30 s;
        cost 0.10 + 0.05 * 30/60 = 0.125, half up to cents: 0.13.
        """
        [answered] = _completions("08_outbound_trunk_answered.ami", TABLE)
        assert answered.name == CALL_ANSWERED
        assert _param(answered, "direction") == "outbound"
        assert _param(answered, "call_cost") == "0.13"
        assert _param(answered, "call_rating_duration") == "30"

    def test_no_matching_rate(self) -> None:
        """Given trace 08 and a table without a prefix of 15551239876, call_cost is "" and 5 whole seconds rated."""
        [answered] = _completions("08_outbound_trunk_answered.ami", RateTable([Rate("44", Decimal("0.10"))]))
        assert _param(answered, "call_cost") == ""
        assert _param(answered, "call_rating_duration") == "5"

    def test_no_rater(self) -> None:
        """Given no rater at all, call_cost is ""."""
        [answered] = _completions("08_outbound_trunk_answered.ami", None)
        assert _param(answered, "call_cost") == ""

    def test_load_trace_outbound_calls(self) -> None:
        """Given trace 13, the four outbound calls cost what the table says and every other call costs "".

        Billable = last hangup - DialEnd ANSWER, each rounded up to 5 s:
          1795872182.93  15559800000: 188.476805 - 184.467816 = 4.008989 -> 5 s; prefix 155598000 (1/1, 0.60/min):
                         rated 5 s, 0.60 * 5/60 = 0.05
          1795872184.107 15559800007: 190.980779 - 186.971511 = 4.009268 -> 5 s; same prefix: 5 s, 0.05
          1795872187.123 15559800014: 193.477662 - 189.468074 = 4.009588 -> 5 s; prefix 1555980001 (60/60,
                         0.12/min): rated 60 s, 0.12 * 60/60 = 0.12
          1795872189.137 15559800021: 195.976666 - 191.968159 = 4.008507 -> 5 s; prefix +1555980002 (30/6,
                         0.09/min, fee 0.02): rated 30 s, 0.02 + 0.09 * 30/60 = 0.065, half up: 0.07
        """
        completions = _completions("13_load_mixed_35_calls.ami", TABLE)
        outbound = {
            _param(event, "call_id"): (_param(event, "call_cost"), _param(event, "call_rating_duration"))
            for event in completions
            if _param(event, "direction") == "outbound"
        }
        assert outbound == {
            "1795872182.93": ("0.05", "5"),
            "1795872184.107": ("0.05", "5"),
            "1795872187.123": ("0.12", "60"),
            "1795872189.137": ("0.07", "30"),
        }
        others = [event for event in completions if _param(event, "direction") != "outbound"]
        assert len(others) == 31
        assert {_param(event, "call_cost") for event in others} == {""}
