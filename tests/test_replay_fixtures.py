"""Every trace in tests/fixtures/ami_traces with a golden file replays to that golden file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.devtools.replay import fixture_config, replay
from agent.mapping.catalog import ALL_PARAMETERS

TRACES = Path(__file__).parent / "fixtures" / "ami_traces"
# Durations may differ by 1 s near x.5 s (rounding of microsecond timestamps; see docs/traces.md).
TOLERANT = frozenset({"duration", "talk_duration"})


def golden_traces() -> list[Path]:
    return sorted(trace for trace in TRACES.glob("*.ami") if trace.with_name(trace.stem + ".expected.jsonl").is_file())


def expected_lines(trace: Path) -> list[dict[str, Any]]:
    text = trace.with_name(trace.stem + ".expected.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def mismatches(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """The expected parameters our event does not match (durations allow +-1 s)."""
    return [
        f"{key}: expected {value!r}, got {actual.get(key)!r}"
        for key, value in expected.items()
        if actual.get(key) != value and not near(key, value, actual.get(key))
    ]


def near(key: str, expected: str, ours: str | None) -> bool:
    if key not in TOLERANT or ours is None or not (ours.isdigit() and expected.isdigit()):
        return False
    return abs(int(ours) - int(expected)) <= 1


class TestReplayFixtures:
    @pytest.mark.parametrize("trace", golden_traces(), ids=lambda path: path.stem)
    def test_matches_golden(self, trace: Path) -> None:
        """Given a trace and its golden file, when replayed, then the same events in order with the same values."""
        expected = expected_lines(trace)
        actual = replay(trace, fixture_config(trace))
        got = [(event.name, event.params["extension"]) for event in actual]
        want = [(line["event"], line["params"].get("extension", "")) for line in expected]
        assert got == want
        problems = [
            f"line {n + 1} ({line['event']}): {wrong}"
            for n, (line, event) in enumerate(zip(expected, actual, strict=True))
            if (wrong := mismatches(line["params"], dict(event.params)))
        ]
        assert problems == []

    @pytest.mark.parametrize("trace", golden_traces(), ids=lambda path: path.stem)
    def test_every_parameter_present(self, trace: Path) -> None:
        """Given a trace, when replayed, then every event carries every §4 parameter as a string."""
        for event in replay(trace, fixture_config(trace)):
            assert set(event.params) == set(ALL_PARAMETERS)
            assert all(isinstance(value, str) for value in event.params.values())

    def test_fixtures_found(self) -> None:
        """Given the fixture folder, when listed, then the nine Asterisk 22 goldens are among the traces."""
        assert len([trace for trace in golden_traces() if trace.name[:2].isdigit()]) >= 9
