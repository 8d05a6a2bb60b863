"""`ami_login_probe` for check-config, against the simulator: login, Timestamp detection, read classes."""

from __future__ import annotations

import pytest

from agent.ami.probe import ProbeResult, ami_login_probe
from agent.devtools.simulator import AmiSimulator
from tests.support.paths import TRACES
from tests.support.receiver import free_port
from tests.support.settings import ami_settings

TRACE_10 = TRACES / "10_inbound_queue_204_answers.ami"


async def probe(simulator: AmiSimulator, listen: float = 5.0, **overrides: str) -> ProbeResult:
    port = await simulator.start()
    try:
        return await ami_login_probe(ami_settings(port, **overrides), listen=listen)
    finally:
        await simulator.stop()


class TestProbe:
    async def test_everything_there(self) -> None:
        """Given call, dialplan and agent events with Timestamps, then ok, resync, timestamps, none missing."""
        result = await probe(AmiSimulator([TRACE_10]))
        assert result.ok
        assert result.resync
        assert result.timestamps is True
        assert result.missing_classes == ()
        assert {"call", "dialplan", "agent"} <= set(result.classes_seen)
        assert result.banner.startswith("Asterisk Call Manager/")

    async def test_without_timestamps(self) -> None:
        """Given timestampevents off (no Timestamp headers), then timestamps is False."""
        result = await probe(AmiSimulator([TRACE_10], timestamps=False))
        assert result.ok
        assert result.timestamps is False

    @pytest.mark.heavy  # a 3 s listening window
    async def test_missing_read_classes(self) -> None:
        """Given a user reading only `call` (and `system`), then dialplan and agent are reported missing."""
        result = await probe(AmiSimulator([TRACE_10], read_classes={"call", "system"}), listen=3.0)
        assert result.ok
        assert result.missing_classes == ("dialplan", "agent")
        assert "call" in result.classes_seen

    async def test_idle_pbx(self) -> None:
        """Given no events at all, then Timestamp use is unknown and every class seems missing."""
        result = await probe(AmiSimulator([]), listen=0.3)
        assert result.ok
        assert result.timestamps is None
        assert result.missing_classes == ("call", "dialplan", "agent")

    async def test_resync_refused(self) -> None:
        """Given a user whose CoreShowChannels is refused, then still ok, no resync, Asterisk's reason kept, and
        the stamped events counted."""
        result = await probe(AmiSimulator([TRACE_10], refuse={"CoreShowChannels"}))
        assert result.ok
        assert (result.resync, result.resync_refused, result.trouble) == (False, "Permission denied", "")
        assert result.stamped > 0
        assert result.unstamped == 0
        assert result.events >= result.stamped

    async def test_wrong_secret(self) -> None:
        """Given a wrong secret, then not ok with Asterisk's message, and the secret appears nowhere."""
        result = await probe(AmiSimulator([TRACE_10], username="event-agent", secret="good"), secret="bad-s3cret")
        assert not result.ok
        assert (result.reachable, result.refused) == (True, True)
        assert result.message == "Authentication failed"
        assert "bad-s3cret" not in repr(result)

    async def test_nothing_listening(self) -> None:
        """Given a port nobody listens on, then not ok with a connection message."""
        port = free_port()
        result = await ami_login_probe(ami_settings(port))
        assert not result.ok
        assert result.message.startswith(f"cannot connect to 127.0.0.1:{port}")
        assert (result.reachable, result.reason) == (False, "connection refused")
