"""`event-agent check-config` against the AMI simulator on 127.0.0.1 (login, read classes, Timestamp)."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from agent.cli.checkconfig import check_config, check_config_main
from agent.devtools.simulator import AmiSimulator
from agent.settings import Settings
from tests.support.paths import TRACES

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


def _settings(port: int, secret: str = SECRET, **admin: str) -> Settings:
    ami = {"host": "127.0.0.1", "port": port, "username": USER, "secret": secret, "connect_timeout": 5.0}
    return Settings.model_validate({"ami": ami, "admin": admin})


async def _check(settings: Settings, observe_s: float = 1.0) -> tuple[int, str]:
    out = io.StringIO()
    code = await check_config(settings, out, observe_s=observe_s)
    return code, out.getvalue()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestCheckConfig:
    async def test_all_fine(self) -> None:
        """Given a PBX that accepts the login and sends stamped call events, exit 0 and only ok/info lines."""
        async with _simulator() as port:
            code, text = await _check(_settings(port))
        assert code == 0, text
        assert "ok:      logged in to 127.0.0.1" in text
        assert "read class 'call' (required): events seen" in text
        assert "events carry a Timestamp header" in text
        assert "CoreShowChannels allowed" in text
        assert "problem" not in text
        assert SECRET not in text

    async def test_login_failure(self) -> None:
        """Given a wrong secret, exit 1 and say the login was refused and which settings to check."""
        async with _simulator() as port:
            code, text = await _check(_settings(port, secret="wr0ng-s3cret"))
        assert code == 1
        assert "problem: AMI refused the login: Authentication failed" in text
        assert "EVENT_AGENT_AMI__USERNAME/__SECRET" in text
        assert "wr0ng-s3cret" not in text

    async def test_missing_call_class(self) -> None:
        """Given a user whose read classes lack call (dialplan only), exit 1 naming the missing class."""
        async with _simulator(read_classes={"dialplan", "system"}) as port:
            code, text = await _check(_settings(port), observe_s=1.0)
        assert code == 1
        assert "problem: read class 'call' is missing" in text
        assert "classes dialplan, system" in text

    async def test_optional_class_not_seen(self) -> None:
        """Given read = call only, exit 0 and say what dialplan and agent would add."""
        async with _simulator(read_classes={"call"}) as port:
            code, text = await _check(_settings(port))
        assert code == 0, text
        assert "info:    read class 'dialplan' (optional) not seen: without it, no failed Dial detection" in text
        assert "read class 'agent' (optional) not seen" in text

    async def test_missing_timestamp(self) -> None:
        """Given events without a Timestamp header, exit 1 and point at timestampevents = yes."""
        async with _simulator(timestamps=False) as port:
            code, text = await _check(_settings(port), observe_s=1.0)
        assert code == 1
        assert "carry no Timestamp header: set timestampevents = yes" in text

    async def test_resync_refused(self) -> None:
        """Given a user without write = reporting, CoreShowChannels is refused: exit 1 and name the fix."""
        async with _simulator(refuse={"CoreShowChannels"}) as port:
            code, text = await _check(_settings(port), observe_s=0.5)
        assert code == 1
        assert "problem: CoreShowChannels refused (Permission denied): add write = reporting" in text
        assert "read class 'call' (required): events seen" in text

    async def test_idle_pbx_warns(self) -> None:
        """Given only system events (an idle PBX), exit 0 with a warning to make a call while checking."""
        async with _simulator(read_classes={"system"}) as port:
            code, text = await _check(_settings(port), observe_s=0.3)
        assert code == 0
        assert "warning: no call events in 0.3 s" in text

    async def test_unreachable(self) -> None:
        """Given nothing listening on the AMI port, exit 1 with 'cannot reach'."""
        code, text = await _check(_settings(_free_port()), observe_s=0.3)
        assert code == 1
        assert "problem: cannot reach AMI at 127.0.0.1:" in text
        assert "connection refused" in text

    async def test_settings_findings(self) -> None:
        """Given an empty secret and a public admin host without token, warn and report a problem."""
        code, text = await _check(_settings(_free_port(), secret="", host="0.0.0.0"), observe_s=0.3)
        assert code == 1
        assert "EVENT_AGENT_AMI__SECRET is empty" in text
        assert "EVENT_AGENT_ADMIN__TOKEN is empty: the agent will refuse to start" in text

    @pytest.mark.heavy  # a full 5 s listening window
    async def test_main_prints(self, capsys: pytest.CaptureFixture[str]) -> None:
        """check_config_main runs its own loop and prints to stdout (run in a thread beside the simulator)."""
        async with _simulator() as port:
            code = await asyncio.to_thread(check_config_main, _settings(port))  # the full 5 s window
        assert code == 0
        assert "logged in to 127.0.0.1" in capsys.readouterr().out
