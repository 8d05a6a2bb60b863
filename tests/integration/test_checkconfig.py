"""`event-agent check-config` against the AMI simulator on 127.0.0.1 (login, read classes, Timestamp)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from agent.cli.checkconfig import check_config, check_config_main
from agent.devtools.simulator import AmiSimulator
from agent.settings import Settings
from tests.support.paths import TRACES
from tests.support.receiver import free_port
from tests.support.settings import agent_settings

TRACE = TRACES / "08_outbound_trunk_answered.ami"
USER, SECRET = "event-agent", "pbx-s3cret"
Simulated = Callable[..., AbstractAsyncContextManager[int]]


@asynccontextmanager
async def _simulator(*, timestamps: bool = True, read_classes: Collection[str] | None = None,
                     refuse: Collection[str] = ()) -> AsyncIterator[int]:
    simulator = AmiSimulator([TRACE], username=USER, secret=SECRET, timestamps=timestamps, read_classes=read_classes,
                             refuse=refuse)
    port = await simulator.start()
    try:
        yield port
    finally:
        await simulator.stop()


def _settings(state_dir: Path, port: int, secret: str = SECRET, **admin: str | None) -> Settings:
    """The AMI user of the simulator (with `secret`) at 127.0.0.1:`port`; `admin` changes admin API settings."""
    return agent_settings(state_dir, port, ami={"username": USER, "secret": secret, "connect_timeout": 5.0},
                          admin=admin)


async def _check(settings: Settings, observe_s: float = 1.0) -> tuple[int, str]:
    out = io.StringIO()
    code = await check_config(settings, out, observe_s=observe_s)
    return code, out.getvalue()


class TestCheckConfig:
    async def test_all_fine(self, tmp_path: Path) -> None:
        """Given a PBX that accepts the login and sends stamped call events, exit 0 and only ok/info lines."""
        async with _simulator() as port:
            code, text = await _check(_settings(tmp_path, port))
        assert code == 0, text
        assert "ok:      logged in to 127.0.0.1" in text
        assert "read class 'call' (required): events seen" in text
        assert "events carry a Timestamp header" in text
        assert "CoreShowChannels allowed" in text
        assert "problem" not in text
        assert SECRET not in text

    async def test_login_failure(self, tmp_path: Path) -> None:
        """Given a wrong secret, exit 1 and say the login was refused and which settings to check."""
        async with _simulator() as port:
            code, text = await _check(_settings(tmp_path, port, secret="wr0ng-s3cret"))
        assert code == 1
        assert "problem: AMI refused the login: Authentication failed" in text
        assert "EVENT_AGENT_AMI__USERNAME/__SECRET" in text
        assert "wr0ng-s3cret" not in text

    @pytest.mark.parametrize(("pbx", "observe_s", "code", "lines"), [
        pytest.param({"read_classes": {"dialplan", "system"}}, 1.0, 1,
                     ["problem: read class 'call' is missing", "classes dialplan, system"], id="no-call-class"),
        pytest.param({"read_classes": {"call"}}, 1.0, 0,
                     ["info:    read class 'dialplan' (optional) not seen: without it, no failed Dial detection",
                      "read class 'agent' (optional) not seen"], id="call-class-only"),
        pytest.param({"timestamps": False}, 1.0, 1,
                     ["carry no Timestamp header: set timestampevents = yes"], id="no-timestamps"),
        pytest.param({"refuse": {"CoreShowChannels"}}, 0.5, 1,
                     ["problem: CoreShowChannels refused (Permission denied): add write = reporting",
                      "read class 'call' (required): events seen"], id="no-write-reporting"),
        pytest.param({"read_classes": {"system"}}, 0.3, 0, ["warning: no call events in 0.3 s"], id="idle-pbx"),
    ])
    async def test_pbx_findings(self, tmp_path: Path, pbx: dict[str, Any], observe_s: float, code: int,
                                lines: list[str]) -> None:
        """Given a user whose read classes lack call (exit 1, naming the class), a user reading call only (exit 0,
        saying what dialplan and agent would add), events without a Timestamp (exit 1, pointing at
        timestampevents = yes), a user without write = reporting (CoreShowChannels refused: exit 1, naming the
        fix), or an idle PBX (exit 0, warning to make a call while checking): that exit status and those lines."""
        async with _simulator(**pbx) as port:
            status, text = await _check(_settings(tmp_path, port), observe_s=observe_s)
        assert status == code, text
        assert [line for line in lines if line not in text] == []

    async def test_unreachable(self, tmp_path: Path) -> None:
        """Given nothing listening on the AMI port, exit 1 with 'cannot reach'."""
        code, text = await _check(_settings(tmp_path, free_port()), observe_s=0.3)
        assert code == 1
        assert "problem: cannot reach AMI at 127.0.0.1:" in text
        assert "connection refused" in text

    async def test_settings_findings(self, tmp_path: Path) -> None:
        """Given an empty secret and a public admin host without token, warn and report a problem."""
        settings = _settings(tmp_path, free_port(), secret="", host="0.0.0.0", token=None)
        code, text = await _check(settings, observe_s=0.3)
        assert code == 1
        assert "EVENT_AGENT_AMI__SECRET is empty" in text
        assert "EVENT_AGENT_ADMIN__TOKEN is empty: the agent will refuse to start" in text

    @pytest.mark.heavy  # a full 5 s listening window
    async def test_main_prints(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """check_config_main runs its own loop and prints to stdout (run in a thread beside the simulator)."""
        async with _simulator() as port:
            code = await asyncio.to_thread(check_config_main, _settings(tmp_path, port))  # the full 5 s window
        assert code == 0
        assert "logged in to 127.0.0.1" in capsys.readouterr().out
