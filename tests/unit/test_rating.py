"""Call rating: prefix matching, minimums and increments, connection fee, rounding, CSV import/export."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agent.admin_api.rates_csv import COLUMNS, format_rates_csv, parse_rates_csv, rate_from_fields
from agent.mapping.config import Rater, Rating
from agent.mapping.rating import Rate, RateTable, billable_whole_seconds, normalise_number


def _rate(prefix: str, price: str, fee: str = "0", minimum: int = 0, increment: int = 1) -> Rate:
    return Rate(prefix, Decimal(price), Decimal(fee), minimum, increment)


class TestRateTableMatching:
    def test_longest_prefix_wins(self) -> None:
        """Given prefixes 1, 1555 and 15551, when rating 15551239876, then 15551 applies."""
        table = RateTable([_rate("1", "0.01"), _rate("1555", "0.02"), _rate("15551", "0.03")])
        match = table.match("15551239876")
        assert match is not None
        assert match.prefix == "15551"

    def test_plus_is_ignored_both_ways(self) -> None:
        """Given a '+44' prefix and a '1' prefix, when numbers come with or without '+', then both match."""
        uk, usa = _rate("+44", "0.10"), _rate("1", "0.01")
        table = RateTable([uk, usa])
        assert [table.match(number) for number in ("442079460000", "+442079460000", "+15551239876")] == [uk, uk, usa]

    def test_punctuation_is_stripped(self) -> None:
        """Given a dialled number with spaces, dashes and brackets, then only its digits are matched."""
        assert normalise_number(" +44 (20) 7946-0000 ") == "+442079460000"
        table = RateTable([_rate("44207", "0.10")])
        assert table.match("+44 (20) 7946-0000") is not None

    def test_no_match_is_none(self) -> None:
        """Given no prefix of the number, when rating, then the rater returns None (call_cost stays "")."""
        table = RateTable([_rate("44", "0.10")])
        assert table.rate("15551239876", 30.0) is None
        assert table.rate("", 30.0) is None

    def test_duplicate_prefix_refused(self) -> None:
        """Given '+44' and '44' in one table, then the table is refused: they are the same prefix."""
        with pytest.raises(ValueError, match="twice"):
            RateTable([_rate("+44", "0.10"), _rate("44", "0.20")])

    def test_is_a_rater(self) -> None:
        """A RateTable satisfies the Rater protocol the tracker takes."""
        rater: Rater = RateTable([_rate("1", "0.01")])
        assert rater.rate("1", 60.0) == Rating(cost="0.01", rated_seconds=60)


class TestRatedSeconds:
    @pytest.mark.parametrize(
        ("minimum", "increment", "billable", "rated"),
        [
            (60, 60, 1.0, 60),  # 60/60: anything up to a minute is a minute
            (60, 60, 60.0, 60),
            (60, 60, 61.0, 120),
            (30, 6, 5.0, 30),  # 30/6: the first 30 s are the minimum
            (30, 6, 30.0, 30),
            (30, 6, 31.0, 36),  # then 6-second steps: 31 -> 36
            (30, 6, 37.0, 42),
            (1, 1, 1.0, 1),  # 1/1: per second
            (1, 1, 73.0, 73),
            (0, 10, 3.0, 10),  # no minimum: just the increment
        ],
    )
    def test_minimum_and_increment(self, minimum: int, increment: int, billable: float, rated: int) -> None:
        """Given a minimum/increment pair, when a call lasts `billable` seconds, then it is billed `rated`."""
        table = RateTable([_rate("1", "1.20", minimum=minimum, increment=increment)])
        rating = table.rate("1", billable)
        assert rating is not None
        assert rating.rated_seconds == rated

    @pytest.mark.parametrize(
        ("billable", "whole"),
        [(4.007256, 5), (4.0, 4), (0.000001, 1), (3.0000000001, 3), (0.0, 0), (-1.0, 0)],
    )
    def test_billable_rounds_up(self, billable: float, whole: int) -> None:
        """Billable seconds round up to whole seconds; float noise below a microsecond does not add a second."""
        assert billable_whole_seconds(billable) == whole


class TestCost:
    def test_connection_fee_added(self) -> None:
        """Given 0.10/min and a 0.25 connection fee, when a 1/1 call lasts 90 s, then it costs 0.25 + 0.15."""
        table = RateTable([_rate("44", "0.10", fee="0.25", minimum=1, increment=1)])
        assert table.rate("44", 90.0) == Rating(cost="0.40", rated_seconds=90)

    def test_rounds_half_up_to_cents(self) -> None:
        """Given 0.05/min, when a 1/1 call lasts 15 s (0.0125) or 18 s (0.015), then 0.01 and 0.02 (half up)."""
        table = RateTable([_rate("1", "0.05", minimum=1, increment=1)])
        assert table.rate("1", 15.0) == Rating(cost="0.01", rated_seconds=15)
        assert table.rate("1", 18.0) == Rating(cost="0.02", rated_seconds=18)

    def test_decimals_per_table(self) -> None:
        """Given a table with 4 decimals, when 0.05/min for 15 s (0.0125), then the cost keeps 4 places."""
        table = RateTable([_rate("1", "0.05")], decimals=4)
        assert table.rate("1", 15.0) == Rating(cost="0.0125", rated_seconds=15)
        whole = RateTable([_rate("1", "3")], decimals=0)
        assert whole.rate("1", 30.0) == Rating(cost="2", rated_seconds=30)

    def test_zero_seconds_costs_nothing(self) -> None:
        """Given a connection fee and a 60 s minimum, when 0 s are billable, then 0 s are rated and cost 0.00."""
        table = RateTable([_rate("1", "0.60", fee="0.50", minimum=60, increment=60)])
        assert table.rate("1", 0.0) == Rating(cost="0.00", rated_seconds=0)

    def test_no_float_drift(self) -> None:
        """Given 0.07/min, when a 1/1 call lasts 3 s (0.0035), then half up gives 0.00 at 2 places, 0.004 at 3."""
        assert RateTable([_rate("1", "0.07")]).rate("1", 3.0) == Rating(cost="0.00", rated_seconds=3)
        assert RateTable([_rate("1", "0.07")], decimals=3).rate("1", 3.0) == Rating(cost="0.004", rated_seconds=3)

    @pytest.mark.parametrize(
        ("prefix", "price", "fee", "minimum", "increment"),
        [("", "1", "0", 0, 1), ("+", "1", "0", 0, 1), ("12a", "1", "0", 0, 1), ("1", "-1", "0", 0, 1),
         ("1", "1", "-0.01", 0, 1), ("1", "1", "0", -1, 1), ("1", "1", "0", 0, 0), ("1", "NaN", "0", 0, 1)],
    )
    def test_invalid_rate_refused(self, prefix: str, price: str, fee: str, minimum: int, increment: int) -> None:
        """Given a bad prefix, a negative or non-finite price or fee, or a zero increment, then Rate refuses it."""
        with pytest.raises(ValueError, match=r"prefix|price|fee|minimum|increment"):
            Rate(prefix, Decimal(price), Decimal(fee), minimum, increment)


CSV_TEXT = (
    "prefix,price_per_minute,connection_fee,minimum_s,increment_s,description\r\n"
    "+44,0.0850,0.10,60,60,United Kingdom\r\n"
    "1,0.012,0,1,1,\"USA, Canada\"\r\n"
    "1555,0.05,0.10,30,6,Test range\r\n"
)


class TestRatesCsv:
    def test_import(self) -> None:
        """Given a valid CSV, when imported, then each line becomes a Rate with exact Decimal values."""
        result = parse_rates_csv(CSV_TEXT)
        assert result.errors == ()
        assert result.rates[0] == Rate("+44", Decimal("0.0850"), Decimal("0.10"), 60, 60, "United Kingdom")
        assert result.rates[1].description == "USA, Canada"

    def test_round_trip_exact(self) -> None:
        """Given an imported table, when exported and imported again, then values and trailing zeros are kept."""
        first = parse_rates_csv(CSV_TEXT)
        text = format_rates_csv(first.rates)
        second = parse_rates_csv(text)
        assert second.errors == ()
        assert sorted(second.rates, key=lambda rate: rate.prefix) == sorted(first.rates, key=lambda rate: rate.prefix)
        assert "+44,0.0850,0.10,60,60,United Kingdom" in text
        assert format_rates_csv(second.rates) == text

    def test_export_header(self) -> None:
        """Given an empty table, when exported, then the text is just the header line."""
        assert format_rates_csv([]) == ",".join(COLUMNS) + "\r\n"

    def test_errors_name_line_and_column(self) -> None:
        """Given bad values on lines 3 and 4, then each is reported by line and column, and nothing is kept."""
        text = CSV_TEXT + "44x,0.1,0,1,1,bad prefix\r\n" + "33,1e-2,0,1,zero,two problems\r\n"
        result = parse_rates_csv(text)
        assert not result.ok
        assert result.errors == (
            "line 5: prefix: '44x' is not digits with an optional leading '+'",
            "line 6: price_per_minute: '1e-2' is not a plain decimal number such as 0.05",
            "line 6: increment_s: 'zero' is not a whole number of seconds",
        )

    def test_duplicate_prefix_line(self) -> None:
        """Given 44 after +44, then the second is reported as a duplicate of the first line."""
        result = parse_rates_csv(CSV_TEXT + "44,0.09,0,1,1,again\r\n")
        assert result.errors == ("line 5: prefix: '44' is already on line 2",)

    def test_header_problems(self) -> None:
        """Given a header with an unknown and a missing column, then both are reported on line 1."""
        result = parse_rates_csv("prefix,price,connection_fee,minimum_s,increment_s\r\n1,0.1,0,1,1\r\n")
        assert "line 1: unknown column 'price'" in result.errors
        assert "line 1: column 'price_per_minute' is missing" in result.errors
        assert parse_rates_csv("").errors[0].startswith("line 1: the header is missing")

    def test_field_count(self) -> None:
        """Given a row with too few fields, then the line says how many were expected."""
        result = parse_rates_csv(CSV_TEXT + "49,0.1\r\n")
        assert result.errors == ("line 5: expected 6 fields, found 2",)

    def test_optional_columns_and_bom(self) -> None:
        """Given a BOM, LF endings, no description column and empty fee/minimum/increment, then defaults apply."""
        result = parse_rates_csv("\ufeffprefix,price_per_minute,connection_fee,minimum_s,increment_s\n49,0.1,,,\n\n")
        assert result.errors == ()
        assert result.rates == (Rate("49", Decimal("0.1"), Decimal(0), 0, 1, ""),)

    def test_fields_report_all_problems(self) -> None:
        """Given a bad prefix and a bad price together, then both are reported at once."""
        rate, problems = rate_from_fields({"prefix": "x", "price_per_minute": "free"})
        assert rate is None
        assert len(problems) == 2
