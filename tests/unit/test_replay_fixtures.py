"""Every trace in tests/fixtures/ami_traces with a golden file replays to that golden file."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.devtools.replay import fixture_config, replay
from agent.mapping.catalog import ALL_PARAMETERS
from tests.support.tracker import GOLDEN, expected_lines, mismatches


class TestReplayFixtures:
    @pytest.mark.parametrize("trace", GOLDEN, ids=lambda path: path.stem)
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

    @pytest.mark.parametrize("trace", GOLDEN, ids=lambda path: path.stem)
    def test_every_parameter_present(self, trace: Path) -> None:
        """Given a trace, when replayed, then every event carries every §4 parameter as a string."""
        events = replay(trace, fixture_config(trace))
        assert len(events) == len(expected_lines(trace))
        for event in events:
            assert set(event.params) == set(ALL_PARAMETERS)
            assert all(isinstance(value, str) for value in event.params.values())

    def test_fixtures_found(self) -> None:
        """Given the fixture folder, when listed, then the nine Asterisk 22 goldens are among the traces."""
        assert len([trace for trace in GOLDEN if trace.name[:2].isdigit()]) >= 9
