"""scripts/install.sh and scripts/uninstall.sh, run for real into a temporary root (DESTDIR, no systemctl)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.paths import ROOT

pytestmark = pytest.mark.heavy  # real installs into a temporary root: left out of `make quick`

INSTALL = ROOT / "scripts" / "install.sh"
UNINSTALL = ROOT / "scripts" / "uninstall.sh"
OFFLINE = "--no-deps --no-index --no-build-isolation"


def _has_wheel_builder() -> bool:
    """setuptools builds wheels offline by itself from 70.1 on; before that it needs the `wheel` package."""
    if importlib.util.find_spec("wheel") is not None:
        return True
    import setuptools

    major, minor = (int(part) for part in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1)


def _local_index() -> str | None:
    """A file:// package index from this machine's pip configuration (no network), if there is one."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    )
    match = re.search(r"index-url='(file://[^' ]+)", proc.stdout)
    return match.group(1) if match else None


def _build_env() -> dict[str, str]:
    """Environment for an install that never leaves this machine; skips when it cannot build offline."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "NO_SYSTEMCTL": "1",
        "PYTHON": sys.executable,
        "PIP_CONFIG_FILE": os.devnull,
    }
    if _has_wheel_builder():
        site = sysconfig.get_paths()["purelib"]
        return env | {"EVENT_AGENT_PIP_ARGS": OFFLINE, "PYTHONPATH": site}
    index = _local_index()
    if index is not None:
        return env | {"EVENT_AGENT_PIP_ARGS": "--no-deps", "PIP_INDEX_URL": index}
    pytest.skip("no offline wheel builder: add `wheel` (or setuptools>=70.1) to the dev environment")


def _run(script: Path, root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(script), *args], env=env | {"DESTDIR": str(root)}, capture_output=True, text=True,
        check=False, timeout=110,
    )


@contextmanager
def open_to_all(script: Path) -> Iterator[Path]:
    """A copy of `script` in a fresh directory anyone may enter and read: the checkout itself may sit where
    another user cannot (a clone under /root, or in a `mktemp -d` directory)."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "scripts" / script.name
        copy.parent.mkdir()
        shutil.copyfile(script, copy)
        for path, mode in ((Path(folder), 0o755), (copy.parent, 0o755), (copy, 0o644)):
            path.chmod(mode)
        yield copy


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    """One real install into a temporary root, shared by the tests that only read the tree."""
    root = tmp_path_factory.mktemp("root")
    env = _build_env()
    proc = _run(INSTALL, root, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, env, proc.stdout


class TestInstall:
    def test_venv_has_the_project(self, installed: tuple[Path, dict[str, str], str]) -> None:
        """Given an install into DESTDIR, the venv runs `python -m agent version` with the project's version."""
        root, _, _ = installed
        python = root / "opt/event-agent/venv/bin/python"
        env = {"PATH": os.environ["PATH"], "PYTHONPATH": sysconfig.get_paths()["purelib"]}
        proc = subprocess.run(
            [str(python), "-m", "agent", "version"], capture_output=True, text=True, check=False, env=env, cwd="/"
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("event-agent ")
        assert (root / "opt/event-agent/venv/bin/event-agent").is_file()

    def test_scripts_name_final_paths(self, installed: tuple[Path, dict[str, str], str]) -> None:
        """The venv's console script names /opt/event-agent, not the staging root."""
        root, _, _ = installed
        script = (root / "opt/event-agent/venv/bin/event-agent").read_text()
        assert script.startswith("#!/opt/event-agent/venv/bin/python")
        assert str(root) not in script

    def test_unit_installed(self, installed: tuple[Path, dict[str, str], str]) -> None:
        """The unit lands in etc/systemd/system, mode 0644, same as the repository's."""
        root, _, _ = installed
        unit = root / "etc/systemd/system/event-agent.service"
        assert unit.read_text() == (ROOT / "systemd/event-agent.service").read_text()
        assert unit.stat().st_mode & 0o777 == 0o644

    def test_env_file_installed(self, installed: tuple[Path, dict[str, str], str]) -> None:
        """The settings file lands in etc/event-agent/agent.env with mode 0640, the directory 0750."""
        root, _, _ = installed
        env_file = root / "etc/event-agent/agent.env"
        assert env_file.read_text() == (ROOT / "systemd/event-agent.env.example").read_text()
        assert env_file.stat().st_mode & 0o777 == 0o640
        assert (root / "etc/event-agent").stat().st_mode & 0o777 == 0o750

    def test_wrapper_uses_service_settings(self, installed: tuple[Path, dict[str, str], str]) -> None:
        """The event-agent wrapper passes the service's env file and state directory."""
        root, _, _ = installed
        wrapper = (root / "usr/local/bin/event-agent").read_text()
        assert "--env-file \"/etc/event-agent/agent.env\"" in wrapper
        assert "STATE_DIRECTORY:=/var/lib/event-agent" in wrapper
        assert 'exec "/opt/event-agent/venv/bin/event-agent"' in wrapper

    def test_skips_user_and_systemctl(self, installed: tuple[Path, dict[str, str], str]) -> None:
        """Under DESTDIR the script says it skips the system user and systemctl, and touches neither."""
        _, _, stdout = installed
        assert "skipping the system user" in stdout
        assert "skipping systemctl" in stdout

    def test_never_overwrites_env(self, tmp_path: Path, installed: tuple[Path, dict[str, str], str]) -> None:
        """Given an existing agent.env, a second install keeps it and refreshes only the example."""
        _, env, _ = installed
        settings = tmp_path / "etc/event-agent/agent.env"
        settings.parent.mkdir(parents=True)
        settings.write_text("EVENT_AGENT_AMI__SECRET=s3cret\n")
        proc = _run(INSTALL, tmp_path, env)
        assert proc.returncode == 0, proc.stderr
        assert settings.read_text() == "EVENT_AGENT_AMI__SECRET=s3cret\n"
        assert "keeping the existing settings" in proc.stdout
        assert (tmp_path / "etc/event-agent/agent.env.example").is_file()

    def test_refuses_without_root_or_destdir(self) -> None:
        """Given no DESTDIR and a non-root user (as root: dropped to nobody), install refuses with a plain
        message. The unprivileged run reads a copy of the script that it may open wherever the checkout is."""
        with open_to_all(INSTALL) as script:
            command = ["sh", str(script)]
            if os.geteuid() == 0:
                if shutil.which("setpriv") is None:
                    pytest.skip("setpriv is not installed, so the test cannot drop root")
                command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
            proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=script.parent,
                                  env={"PATH": os.environ["PATH"]})
        assert proc.returncode == 1
        assert "run as root" in proc.stderr


class TestUninstall:
    def test_keeps_state_and_settings(self, tmp_path: Path) -> None:
        """Given an install with a state directory, uninstall removes program, unit, wrapper; keeps the rest."""
        env = _build_env()
        assert _run(INSTALL, tmp_path, env).returncode == 0
        state = tmp_path / "var/lib/event-agent"
        state.mkdir(parents=True)
        (state / "agent.db").write_text("db")
        proc = _run(UNINSTALL, tmp_path, env)
        assert proc.returncode == 0, proc.stderr
        assert not (tmp_path / "opt/event-agent").exists()
        assert not (tmp_path / "etc/systemd/system/event-agent.service").exists()
        assert not (tmp_path / "usr/local/bin/event-agent").exists()
        assert (state / "agent.db").read_text() == "db"
        assert (tmp_path / "etc/event-agent/agent.env").is_file()

    def test_purge(self, tmp_path: Path) -> None:
        """Given --purge, the settings and the state directory go as well."""
        env = {"PATH": os.environ["PATH"], "NO_SYSTEMCTL": "1"}
        _fake_install(tmp_path)
        proc = _run(UNINSTALL, tmp_path, env, "--purge")
        assert proc.returncode == 0, proc.stderr
        assert sorted(path.name for path in tmp_path.rglob("*") if path.is_file()) == []

    def test_refuses_foreign_prefix(self, tmp_path: Path) -> None:
        """Given a PREFIX that holds no venv, uninstall removes nothing there and says why."""
        (tmp_path / "opt/event-agent").mkdir(parents=True)
        (tmp_path / "opt/event-agent/important").write_text("keep")
        proc = _run(UNINSTALL, tmp_path, {"PATH": os.environ["PATH"]})
        assert proc.returncode == 1
        assert "not removing" in proc.stderr
        assert (tmp_path / "opt/event-agent/important").read_text() == "keep"

    def test_unknown_argument(self, tmp_path: Path) -> None:
        """Given an unknown argument, uninstall stops before touching anything."""
        _fake_install(tmp_path)
        proc = _run(UNINSTALL, tmp_path, {"PATH": os.environ["PATH"]}, "--force")
        assert proc.returncode == 1
        assert (tmp_path / "opt/event-agent/venv/bin/python").is_file()


def _fake_install(root: Path) -> None:
    """The files install.sh lays down, without building a venv (for tests of removal only)."""
    for relative in (
        "opt/event-agent/venv/bin/python",
        "etc/systemd/system/event-agent.service",
        "etc/event-agent/agent.env",
        "var/lib/event-agent/agent.db",
    ):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text("x")
    wrapper = root / "usr/local/bin/event-agent"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text("#!/bin/sh\n# event-agent with the service's settings (installed by scripts/install.sh).\n")
