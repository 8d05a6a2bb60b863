"""Call rating: a table of destination-prefix rates that prices an answered call (docs/events.md `call_cost`).

Pure: stdlib and Decimal only, no I/O. Money is Decimal from end to end; a float never touches a price.

Rules, in order:
- the called number is normalised: everything but digits is dropped (a leading `+` is kept for display but
  ignored for matching, so the prefixes `+44` and `44` are the same prefix);
- the longest matching prefix wins; no match means no rating (`call_cost` stays "");
- billable seconds are rounded up to whole seconds (after discarding sub-microsecond float noise);
- a call with 0 billable seconds is rated 0 seconds and costs 0, connection fee included: an answer that
  lasted no measurable time is not charged (as CDR `billsec = 0`);
- otherwise rated seconds = max(minimum_s, seconds rounded up to a multiple of increment_s), and
  cost = connection_fee + price_per_minute * rated / 60, rounded half up to the table's decimals (2 = cents).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType

from agent.mapping.config import Rating

DEFAULT_DECIMALS = 2
MAX_DECIMALS = 6
_SIXTY = Decimal(60)


@dataclass(frozen=True, slots=True)
class Rate:
    """One row of the rate table: calls to numbers starting with `prefix` cost this much."""

    prefix: str
    price_per_minute: Decimal
    connection_fee: Decimal = Decimal(0)
    minimum_s: int = 0
    increment_s: int = 1
    description: str = ""

    def __post_init__(self) -> None:
        problems = rate_problems(
            self.prefix, self.price_per_minute, self.connection_fee, self.minimum_s, self.increment_s
        )
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def key(self) -> str:
        """The prefix as matched: digits only."""
        return digits_of(self.prefix)

    def rated_seconds(self, seconds: int) -> int:
        """Whole billable seconds -> billed seconds: the minimum, or the next multiple of the increment."""
        if seconds <= 0:
            return 0
        return max(self.minimum_s, -(-seconds // self.increment_s) * self.increment_s)

    def cost(self, rated_seconds: int, decimals: int) -> Decimal:
        """The price of `rated_seconds` billed seconds, rounded half up to `decimals` places."""
        if rated_seconds <= 0:
            return _quantize(Decimal(0), decimals)
        raw = self.connection_fee + self.price_per_minute * Decimal(rated_seconds) / _SIXTY
        return _quantize(raw, decimals)


def rate_problems(
    prefix: str, price_per_minute: Decimal, connection_fee: Decimal, minimum_s: int, increment_s: int
) -> list[str]:
    """Why these values do not make a valid rate, one line per field (empty when they do)."""
    problems: list[str] = []
    if not is_prefix(prefix):
        problems.append(f"prefix: {prefix!r} is not digits with an optional leading '+'")
    for name, value in (("price_per_minute", price_per_minute), ("connection_fee", connection_fee)):
        if not value.is_finite() or value < 0:
            problems.append(f"{name}: must be a number of 0 or more")
    if minimum_s < 0:
        problems.append("minimum_s: must be 0 or more")
    if increment_s < 1:
        problems.append("increment_s: must be 1 or more")
    return problems


def is_prefix(text: str) -> bool:
    """A prefix is one or more digits, optionally after a single leading '+'."""
    body = text[1:] if text.startswith("+") else text
    return body.isascii() and body.isdigit()


def digits_of(number: str) -> str:
    """The digits of a dialled number, for matching: `+44 (20) 7946-0000` -> `442079460000`."""
    return "".join(char for char in number if char.isascii() and char.isdigit())


def normalise_number(number: str) -> str:
    """Strip everything but digits, keeping a leading '+': `+44 (20) 7946-0000` -> `+442079460000`."""
    stripped = number.strip()
    plus = "+" if stripped.startswith("+") else ""
    return plus + digits_of(stripped)


def billable_whole_seconds(billable_seconds: float) -> int:
    """Round up to whole seconds; AMI Timestamps have microseconds, so noise below that is dropped first."""
    if billable_seconds <= 0 or not math.isfinite(billable_seconds):
        return 0
    return math.ceil(round(billable_seconds, 6))


def _quantize(value: Decimal, decimals: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


class RateTable:
    """A set of rates with unique prefixes; implements the `Rater` protocol of agent.mapping.config."""

    def __init__(self, rates: Iterable[Rate], decimals: int = DEFAULT_DECIMALS) -> None:
        if not 0 <= decimals <= MAX_DECIMALS:
            raise ValueError(f"decimals must be between 0 and {MAX_DECIMALS}")
        by_key: dict[str, Rate] = {}
        for rate in rates:
            if rate.key in by_key:
                raise ValueError(f"prefix {rate.prefix!r} appears twice")
            by_key[rate.key] = rate
        self._by_key: Mapping[str, Rate] = MappingProxyType(by_key)
        self.decimals = decimals

    def __len__(self) -> int:
        return len(self._by_key)

    def match(self, number: str) -> Rate | None:
        """The rate with the longest prefix of `number` (digits compared, '+' ignored), or None."""
        digits = digits_of(number)
        for end in range(len(digits), 0, -1):
            rate = self._by_key.get(digits[:end])
            if rate is not None:
                return rate
        return None

    def rate(self, number: str, billable_seconds: float) -> Rating | None:
        """Price a call to `number` that lasted `billable_seconds`; None when no prefix matches."""
        rate = self.match(number)
        if rate is None:
            return None
        rated = rate.rated_seconds(billable_whole_seconds(billable_seconds))
        return Rating(cost=str(rate.cost(rated, self.decimals)), rated_seconds=rated)
