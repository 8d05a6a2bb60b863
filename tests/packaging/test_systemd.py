"""The systemd unit and the example environment file (docs/operations.md)."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from agent.settings import Settings, load_settings
from tests.support.paths import ROOT

pytestmark = pytest.mark.heavy  # systemd-analyze and interpreters as processes: left out of `make quick`

UNIT = ROOT / "systemd" / "event-agent.service"
ENV_EXAMPLE = ROOT / "systemd" / "event-agent.env.example"
INSTALLED_BINARY = "/opt/event-agent/venv/bin/event-agent"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "CapabilityBoundingSet": "",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
}


def _unit() -> dict[str, dict[str, list[str]]]:
    """The unit as section -> key -> every value given (systemd keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def _setting_names(model: type[BaseModel], prefix: str = "EVENT_AGENT_") -> list[str]:
    names: list[str] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += _setting_names(annotation, f"{prefix}{name.upper()}__")
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


class TestUnitFile:
    def test_service_keys(self) -> None:
        """The unit runs the venv's `event-agent run` as its own user with a state directory and the env file."""
        service = _unit()["Service"]
        assert service["ExecStart"] == [f"{INSTALLED_BINARY} run"]
        assert service["User"] == ["event-agent"]
        assert service["StateDirectory"] == ["event-agent"]
        assert service["EnvironmentFile"] == ["-/etc/event-agent/agent.env"]

    def test_restart_policy(self) -> None:
        """It restarts on failure but not on exit status 78 (invalid settings)."""
        service = _unit()["Service"]
        assert service["Restart"] == ["on-failure"]
        assert service["RestartPreventExitStatus"] == ["78"]

    def test_soft_dependencies(self) -> None:
        """It orders after the network and Asterisk and wants them, but never Requires= them."""
        unit = _unit()["Unit"]
        assert set(unit["After"][0].split()) >= {"network-online.target", "asterisk.service"}
        assert set(unit["Wants"][0].split()) >= {"network-online.target", "asterisk.service"}
        assert "Requires" not in unit
        assert "BindsTo" not in unit

    def test_stop_timeout_exceeds_drain(self) -> None:
        """The stop timeout is longer than the default drain grace period, so a drain is never killed."""
        timeout = _unit()["Service"]["TimeoutStopSec"][0]
        match = re.fullmatch(r"(\d+)s?", timeout)
        assert match is not None
        assert int(match.group(1)) > Settings().delivery.drain_grace_period + 5

    @pytest.mark.parametrize(("key", "value"), sorted(HARDENING.items()))
    def test_hardening_key(self, key: str, value: str) -> None:
        """Each hardening key is present with its value."""
        assert _unit()["Service"].get(key) == [value]

    def test_no_ip_deny(self) -> None:
        """Webhook hosts may be anywhere: no IP allow list and no private network."""
        service = _unit()["Service"]
        assert "IPAddressDeny" not in service
        assert "PrivateNetwork" not in service

    def test_logs_to_journal(self) -> None:
        """Standard output and error go to the journal, nothing to a log file."""
        service = _unit()["Service"]
        assert service["StandardOutput"] == ["journal"]
        assert not [key for key in service if "LogsDirectory" in key]

    def test_cpython_runs_without_wx_memory(self) -> None:
        """Given PR_SET_MDWE (what MemoryDenyWriteExecute enforces), the agent's modules import and run."""
        script = (
            "import ctypes, sys\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "if libc.prctl(65, 1, 0, 0, 0) != 0: sys.exit(3)\n"
            "import asyncio, sqlite3, ssl, aiohttp, aiosqlite, pydantic, agent.settings, agent.mapping.rating\n"
            "sqlite3.connect(':memory:').execute('select 1')\n"
            "asyncio.run(asyncio.sleep(0))\n"
        )
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
        if proc.returncode == 3:
            pytest.skip("this kernel has no PR_SET_MDWE (Linux < 6.3)")
        assert proc.returncode == 0, proc.stderr


class TestSystemdAnalyze:
    @needs_analyze
    def test_verify(self, tmp_path: Path) -> None:
        """Given the unit with ExecStart pointing at a real executable, `systemd-analyze verify` finds nothing."""
        binary = tmp_path / "event-agent"
        binary.write_text("#!/bin/sh\nexit 0\n")
        binary.chmod(0o755)
        unit = tmp_path / "event-agent.service"
        unit.write_text(UNIT.read_text().replace(INSTALLED_BINARY, str(binary)))
        proc = subprocess.run(
            [str(SYSTEMD_ANALYZE), "verify", str(unit)], capture_output=True, text=True, check=False, env=_env()
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr.strip() == ""

    @needs_analyze
    def test_security_exposure(self) -> None:
        """`systemd-analyze security --offline=yes` rates the unit's exposure 2.5 or better."""
        proc = subprocess.run(
            [str(SYSTEMD_ANALYZE), "security", "--offline=yes", "--no-pager", str(UNIT)],
            capture_output=True, text=True, check=False, env=_env(),
        )
        if proc.returncode != 0 and "offline" in proc.stderr:
            pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
        match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout + proc.stderr)
        assert match is not None, proc.stdout + proc.stderr
        assert float(match.group(1)) <= 2.5


def _env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SYSTEMD_COLORS": "0", "LANG": "C.UTF-8"}


class TestEnvExample:
    def test_every_setting_listed(self) -> None:
        """Every setting of agent/settings.py appears in the example env file."""
        text = ENV_EXAMPLE.read_text()
        missing = [name for name in _setting_names(Settings) if f"#{name}=" not in text]
        assert missing == []

    def test_nothing_unknown_listed(self) -> None:
        """The example lists no variable that the settings do not know."""
        listed = set(re.findall(r"^#(EVENT_AGENT_\w+)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))
        assert listed - set(_setting_names(Settings)) == set()

    def test_defaults_match(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Given the example with every line uncommented, then the settings equal the built-in defaults."""
        for key in list(os.environ):
            if key.startswith("EVENT_AGENT_"):
                monkeypatch.delenv(key)
        env_file = tmp_path / "agent.env"
        env_file.write_text(re.sub(r"^#(EVENT_AGENT_)", r"\1", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))
        loaded = load_settings(env_file).model_dump()
        defaults = Settings(state_dir=Path("/var/lib/event-agent")).model_dump()
        assert _comparable(loaded) == _comparable(defaults)

    def test_sections_parse(self) -> None:
        """The unit parses as INI with the three sections systemd expects."""
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.read_string(UNIT.read_text())
        assert parser.sections() == ["Unit", "Service", "Install"]


def _comparable(dump: dict[str, object]) -> dict[str, object]:
    """Empty optional values ('' from the file, None by default) compare equal; secrets compare by value."""
    out: dict[str, object] = {}
    for key, value in dump.items():
        if isinstance(value, dict):
            out[key] = _comparable(value)
        elif isinstance(value, SecretStr):
            out[key] = value.get_secret_value() or None
        else:
            out[key] = value if value != "" else None
    return out
