"""`event-agent replay TRACE` as a real subprocess, and the fixture sidecar settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agent.devtools.replay import as_line, fixture_config, replay
from agent.mapping.catalog import ALL_PARAMETERS
from tests.support.paths import TRACES

TRACE = TRACES / "01_internal_answered_caller_hangup.ami"


def run_replay(trace: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("EVENT_AGENT_")}
    return subprocess.run(
        [sys.executable, "-m", "agent", "replay", str(trace)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**clean, **env},
    )


class TestReplayCommand:
    def test_prints_one_json_line_per_event(self) -> None:
        """Given trace 01, when replayed by the CLI, then three JSON lines with every parameter as sorted strings."""
        result = run_replay(TRACE)
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert [line["event"] for line in lines] == ["call_incoming", "ringing", "call_answered"]
        for line in lines:
            assert list(line["params"]) == sorted(ALL_PARAMETERS)
            assert all(isinstance(value, str) for value in line["params"].values())

    def test_is_deterministic_and_matches_the_library(self) -> None:
        """Given the same trace twice, when replayed, then byte-identical output equal to replay()."""
        first, second = run_replay(TRACE), run_replay(TRACE)
        assert first.stdout == second.stdout
        expected = "".join(as_line(item) + "\n" for item in replay(TRACE, fixture_config(TRACE)))
        assert first.stdout == expected

    def test_uses_the_mapping_settings(self) -> None:
        """Given EXTENSION_MAP 202=Bob and TIMEZONE Asia/Tokyo, when replayed, then both show in the output."""
        result = run_replay(
            TRACE,
            EVENT_AGENT_MAPPING__EXTENSION_MAP='{"202": "Bob"}',
            EVENT_AGENT_MAPPING__TIMEZONE="Asia/Tokyo",
        )
        first = json.loads(result.stdout.splitlines()[0])["params"]
        assert (first["extension"], first["time"]) == ("Bob", "22:18:49")


class TestFixtureConfig:
    def test_sidecar_fields_are_compiled(self, tmp_path: Path) -> None:
        """Given NAME.settings.json with a pattern and a map, then the config carries them (timezone UTC)."""
        trace = tmp_path / "x.ami"
        trace.write_bytes(b"")
        sidecar = {"extension_pattern": r"^1500\d{5}$", "extension_map": {"150010001": "201"}}
        (tmp_path / "x.settings.json").write_text(json.dumps(sidecar), encoding="utf-8")
        config = fixture_config(trace)
        assert config.extension_pattern.pattern == r"^1500\d{5}$"
        assert (dict(config.extension_map), config.timezone) == ({"150010001": "201"}, "UTC")

    def test_no_sidecar_means_defaults_in_utc(self, tmp_path: Path) -> None:
        """Given no sidecar, then the default extension pattern and UTC."""
        config = fixture_config(tmp_path / "y.ami")
        assert (config.extension_pattern.pattern, config.timezone, config.tenant) == (r"^\d{2,6}$", "UTC", "")
