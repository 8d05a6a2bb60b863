"""`event-agent status` against the real admin API on 127.0.0.1 (its status document fixed by the test)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.cli.status import render, status_main
from agent.settings import Settings
from tests.support.api import running_api
from tests.support.paths import ROOT
from tests.support.receiver import free_port
from tests.support.settings import TOKEN, agent_settings

STATUS = {
    "ami": {"connected": True, "last_event_at": "2026-11-28T13:20:08Z", "events": 79, "last_error": None},
    "calls_in_progress": 2,
    "outbox_depth": 0,
    "counters": {"delivered": 5},
}


@pytest.fixture
async def port(tmp_path: Path) -> AsyncIterator[int]:
    """The port of a running admin API whose status is STATUS."""
    async with running_api(tmp_path, status=lambda: STATUS) as api:
        yield int(api.client.port)


def _settings(tmp_path: Path, port: int, token: str | None = TOKEN, host: str = "127.0.0.1") -> Settings:
    """What `event-agent status` reads: where the admin API listens, and the token."""
    return agent_settings(tmp_path, admin={"host": host, "port": port, "token": token})


async def _run(settings: Settings, *, as_json: bool = False) -> tuple[int, str]:
    """status_main is synchronous: run it in a thread while the loop serves the app."""
    out = io.StringIO()
    code = await asyncio.to_thread(status_main, settings, as_json=as_json, out=out)
    return code, out.getvalue()


class TestStatusCli:
    async def test_json(self, tmp_path: Path, port: int) -> None:
        """Given a running agent and --json, the output is the status document, pretty-printed."""
        code, text = await _run(_settings(tmp_path, port), as_json=True)
        assert code == 0
        assert json.loads(text) == STATUS
        assert '\n  "ami": {\n' in text

    async def test_human(self, tmp_path: Path, port: int) -> None:
        """Given a running agent, the default output is labelled lines with nested sections indented."""
        code, text = await _run(_settings(tmp_path, port))
        assert code == 0
        assert "Ami:\n  Connected: yes\n" in text
        assert "  Last error: -\n" in text
        assert "Calls in progress: 2\n" in text
        assert "Counters:\n  Delivered: 5\n" in text

    async def test_token_file(self, tmp_path: Path, port: int) -> None:
        """Given no token setting, the token is read from STATE_DIR/admin-token."""
        (tmp_path / "admin-token").write_text(TOKEN + "\n")
        code, _ = await _run(_settings(tmp_path, port, token=None), as_json=True)
        assert code == 0

    async def test_wildcard_host(self, tmp_path: Path, port: int) -> None:
        """Given the agent bound to 0.0.0.0, the CLI asks it on 127.0.0.1."""
        code, _ = await _run(_settings(tmp_path, port, host="0.0.0.0"), as_json=True)
        assert code == 0

    async def test_wrong_token(self, tmp_path: Path, port: int, capsys: pytest.CaptureFixture[str]) -> None:
        """Given a wrong token, exit 1 and say the token was refused, without printing it."""
        code, text = await _run(_settings(tmp_path, port, token="wrong-token-0123456789abcdefghijklmn"))
        assert code == 1
        assert text == ""
        err = capsys.readouterr().err
        assert "refused the admin token" in err
        assert "wrong-token" not in err

    async def test_not_running(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Given nothing listening on the admin port, exit 1 with 'not running'."""
        code, _ = await _run(_settings(tmp_path, free_port()))
        assert code == 1
        assert "the agent is not running" in capsys.readouterr().err

    async def test_no_token(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Given no token setting and no token file, exit 1 naming both ways to provide one."""
        code, _ = await _run(_settings(tmp_path, free_port(), token=None))
        assert code == 1
        err = capsys.readouterr().err
        assert "EVENT_AGENT_ADMIN__TOKEN" in err
        assert not (tmp_path / "admin-token").exists()

    @pytest.mark.heavy  # the CLI as a process
    async def test_cli_subprocess(self, tmp_path: Path, port: int) -> None:
        """Given `event-agent status --json` run as a process with the settings in its environment, it prints JSON."""
        env = {"PATH": os.environ.get("PATH", ""), "EVENT_AGENT_ADMIN__PORT": str(port),
               "EVENT_AGENT_ADMIN__TOKEN": TOKEN, "EVENT_AGENT_STATE_DIR": str(tmp_path)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "status", "--json", env=env, cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        assert json.loads(out) == STATUS

    def test_render_empty_values(self) -> None:
        """Empty maps, lists and strings render as '-'."""
        assert render({"counters": {}, "queues": [], "name": ""}) == "Counters: -\nQueues: -\nName: -\n"
