"""The command line meets missing files, files that are not traces and closed pipes with one plain line
(docs/operations.md); `status` prints whole numbers; every command and argument explains itself."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.__main__ import _parser
from agent.cli.status import status_main
from tests.support.api import running_api
from tests.support.paths import ROOT, TRACES
from tests.support.settings import agent_settings

BIG_TRACE = TRACES / "13_load_mixed_35_calls.ami"  # its output is larger than a pipe's buffer


def _env(**extra: str) -> dict[str, str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("EVENT_AGENT_")}
    return {**clean, **extra}


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=60, env=_env(**env))


class TestReplay:
    def test_missing_file(self) -> None:
        """Given a trace that does not exist, then one line on stderr and status 1, no traceback."""
        result = run_cli("replay", "/nonexistent.ami")
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == "event-agent replay: /nonexistent.ami: no such file\n"

    def test_not_a_trace(self) -> None:
        """Given a file that is not an AMI trace (the README), then one line saying so and status 1."""
        result = run_cli("replay", "README.md")
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr.count("\n") == 1
        assert "README.md is not an AMI trace" in result.stderr

    def test_directory(self, tmp_path: Path) -> None:
        """Given a directory, then one line and status 1."""
        result = run_cli("replay", str(tmp_path))
        assert (result.returncode, result.stderr.count("\n")) == (1, 1)
        assert "is a directory" in result.stderr

    def test_closed_pipe(self) -> None:
        """Given a reader that stops after the first line (`replay FILE | head -1`), then the command ends with
        status 0 and prints no traceback."""
        process = subprocess.Popen([sys.executable, "-m", "agent", "replay", str(BIG_TRACE)], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
        assert process.stdout is not None
        assert process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()
        status = process.wait(timeout=60)
        errors = process.stderr.read().decode()
        process.stderr.close()
        assert first.startswith(b'{"event": "call_incoming"')
        assert (status, errors) == (0, "")

    def test_env_file_after_the_command(self, tmp_path: Path) -> None:
        """Given --env-file after the subcommand, then it is read (and a missing one is a settings error, 78)."""
        env_file = tmp_path / "agent.env"
        env_file.write_text('EVENT_AGENT_MAPPING__EXTENSION_MAP={"202": "Bob"}\n')
        trace = TRACES / "01_internal_answered_caller_hangup.ami"
        after = run_cli("replay", "--env-file", str(env_file), str(trace))
        before = run_cli("--env-file", str(env_file), "replay", str(trace))
        assert after.returncode == 0, after.stderr
        assert '"extension": "Bob"' in after.stdout
        assert after.stdout == before.stdout
        missing = run_cli("replay", str(trace), "--env-file", str(tmp_path / "nope.env"))
        assert missing.returncode == 78
        assert "does not exist" in missing.stderr


def _actions(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.Action]]:
    found: list[tuple[str, argparse.Action]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += [(f"{name} {label}", inner) for label, inner in _actions(sub)]
            found += [(f"command {choice.dest}", choice) for choice in action._choices_actions]
        elif not isinstance(action, argparse._HelpAction):
            found.append((action.dest, action))
    return found


class TestHelp:
    def test_every_command_and_argument(self) -> None:
        """Given the parser, then every subcommand and every argument has a help text."""
        missing = [label for label, action in _actions(_parser()) if not action.help]
        assert missing == []
        assert len(_actions(_parser())) > 20


STATUS = {"calls_in_progress": 2, "counters": {"deliveries": {"delivered": 2787.0}, "ami_events": 12.0, "lag_s": 0.25}}


@pytest.fixture
async def port(tmp_path: Path) -> AsyncIterator[int]:
    """The port of a running admin API whose status has float counters."""
    async with running_api(tmp_path, status=lambda: STATUS) as api:
        yield int(api.client.port)


class TestStatus:
    @pytest.mark.parametrize("as_json", [False, True])
    async def test_whole_numbers(self, tmp_path: Path, port: int, as_json: bool) -> None:
        """Given counters that arrive as 2787.0, when status prints them, then as 2787 (0.25 stays 0.25)."""
        settings = agent_settings(tmp_path, admin={"port": port})
        out = io.StringIO()
        code = await asyncio.to_thread(status_main, settings, as_json=as_json, out=out)
        text = out.getvalue()
        assert code == 0
        assert "2787" in text
        assert "2787.0" not in text
        assert "12.0" not in text
        assert "0.25" in text
