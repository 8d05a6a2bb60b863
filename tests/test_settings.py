"""Settings: names, defaults, validation and the exit status for invalid values."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent.settings import EX_CONFIG, SettingsError, load_settings


class TestSettings:
    def test_defaults(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Given no environment, the admin API binds loopback:8088 and actions' mapping uses UTC."""
        for key in list(__import__("os").environ):
            if key.startswith("EVENT_AGENT_"):
                monkeypatch.delenv(key)
        settings = load_settings()
        assert settings.admin.host == "127.0.0.1"
        assert settings.admin.port == 8088
        assert settings.mapping.timezone == "UTC"
        assert settings.mapping.compile().extension_pattern.pattern == r"^\d{2,6}$"

    def test_nested_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Nested names use a double underscore; JSON values fill maps."""
        monkeypatch.setenv("EVENT_AGENT_AMI__PORT", "5039")
        monkeypatch.setenv("EVENT_AGENT_MAPPING__EXTENSION_MAP", '{"alice": "201"}')
        settings = load_settings()
        assert settings.ami.port == 5039
        assert settings.mapping.extension_map == {"alice": "201"}

    def test_invalid_names_the_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An invalid value is reported with the variable that carries it."""
        monkeypatch.setenv("EVENT_AGENT_MAPPING__TIMEZONE", "Mars/Olympus")
        monkeypatch.setenv("EVENT_AGENT_MAPPING__EXTENSION_PATTERN", "([")
        with pytest.raises(SettingsError) as caught:
            load_settings()
        text = " ".join(caught.value.problems)
        assert "EVENT_AGENT_MAPPING__TIMEZONE" in text
        assert "EVENT_AGENT_MAPPING__EXTENSION_PATTERN" in text

    def test_cli_exits_78(self) -> None:
        """The CLI exits with status 78 and a plain message on invalid settings."""
        env = {"EVENT_AGENT_AMI__PORT": "not-a-port", "PATH": ""}
        proc = subprocess.run(
            [sys.executable, "-m", "agent", "check-config"], env=env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == EX_CONFIG
        assert "EVENT_AGENT_AMI__PORT" in proc.stderr
