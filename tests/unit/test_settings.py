"""Settings: names, defaults, validation and the exit status for invalid values."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from agent.mapping.config import DEFAULT_EXTENSION_PATTERN, MappingConfig, compile_mapping
from agent.settings import EX_CONFIG, MappingSettings, SettingsError, load_settings
from tests.support.paths import ROOT

AGENT = ROOT / "agent"
# Packages below the top of the layout: they declare what they read and never import agent/settings.py.
LOWER = ("admin_api", "ingest", "webhooks", "store", "mapping", "ami")


def agent_imports(path: Path) -> set[str]:
    """The agent modules `path` imports (absolute imports, as the code base writes them)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("agent"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("agent")}
    return found


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
        assert compile_mapping(settings.mapping).extension_pattern.pattern == r"^\d{2,6}$"
        assert settings.mapping.housekeeping_interval == 60.0

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


class TestLeaf:
    def test_settings_imports_no_agent_module(self) -> None:
        """Given agent/settings.py, then it imports nothing of the agent: it is the boundary, not a dependency."""
        assert agent_imports(AGENT / "settings.py") == set()

    def test_lower_packages_do_not_import_settings(self) -> None:
        """Given every module below the top of the layout, then none imports agent.settings."""
        modules = [path for package in LOWER for path in sorted((AGENT / package).rglob("*.py"))]
        offenders = [str(path.relative_to(AGENT)) for path in modules if "agent.settings" in agent_imports(path)]
        assert offenders == []

    def test_same_default_pattern(self) -> None:
        """Given the settings' default extension pattern, then the tracker's own default is the same."""
        assert MappingSettings().extension_pattern == DEFAULT_EXTENSION_PATTERN
        assert MappingConfig().extension_pattern.pattern == DEFAULT_EXTENSION_PATTERN

    def test_compile_mapping(self) -> None:
        """Given mapping settings, when compiled for the tracker, then patterns, map, zone and timeout carry over."""
        config = compile_mapping(MappingSettings(trunk_pattern="^trunk", extension_map={"alice": "201"},
                                                 timezone="Europe/Ljubljana", tenant_pattern="^(\\w+)-",
                                                 stuck_call_timeout=60.0))
        assert (config.trunk_pattern.pattern if config.trunk_pattern else None) == "^trunk"
        assert dict(config.extension_map) == {"alice": "201"}
        assert (config.timezone, config.stuck_call_seconds) == ("Europe/Ljubljana", 60.0)
        assert config.tenant_pattern is not None
        assert config.tenant_pattern.match("acme-sip") is not None


class TestHousekeeping:
    def test_interval_from_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Given EVENT_AGENT_MAPPING__HOUSEKEEPING_INTERVAL=0.5, then the pump's period is half a second."""
        monkeypatch.setenv("EVENT_AGENT_MAPPING__HOUSEKEEPING_INTERVAL", "0.5")
        assert load_settings().mapping.housekeeping_interval == 0.5

    @pytest.mark.parametrize("value", ["0", "-1", "soon"])
    def test_interval_must_be_positive(self, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
        """Given a period that is not a positive number of seconds, then the settings are refused, naming it."""
        monkeypatch.setenv("EVENT_AGENT_MAPPING__HOUSEKEEPING_INTERVAL", value)
        with pytest.raises(SettingsError) as caught:
            load_settings()
        assert "EVENT_AGENT_MAPPING__HOUSEKEEPING_INTERVAL" in " ".join(caught.value.problems)
