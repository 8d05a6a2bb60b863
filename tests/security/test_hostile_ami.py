"""Hostile AMI peers (docs/security.md, "Hostile AMI peers"): a real `event-agent run` against a real AMI server
process on 127.0.0.1 that floods it (tests/security/hostile_ami.py). Whatever the peer sends, the agent's
resident memory grows by less than 50 MB (read from /proc), the log says in plain words what happened, and once
the flood is over the agent is connected again (to the same server, which then behaves).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.security.peers import GROWTH_LIMIT_MB, MemoryWatch, agent_against, settled
from tests.support.polling import eventually

DROPPED = "a broken or hostile AMI server; dropping the connection"
RESYNCED = "AMI connected; resync with 0 live channels"


def reconnected(ami: dict[str, Any]) -> bool:
    return bool(ami["connected"])


async def dropped_and_back(mode: str, state_dir: Path, **env: str) -> tuple[float, str, dict[str, Any]]:
    """Run the agent against a peer whose first connection floods until the agent drops it; (memory growth in MB,
    the agent's log, its status once connected again)."""
    async with agent_against(mode, state_dir, **env) as (peer, daemon):
        await peer.line_starting("WAITING 1")
        watch = MemoryWatch(daemon)
        await peer.go()
        await peer.line_starting("CLOSED 1", watch)
        await peer.line_starting("CONNECTED 2", watch)
        await eventually(lambda: RESYNCED in daemon.log_text(), what="a resync on the next connection")
        status = await settled(daemon, reconnected, "connected again")
        growth = watch.growth()
        print(f"{mode}: the agent's memory grew by {growth:.1f} MB")
        return growth, daemon.log_text(), status


async def flooded(mode: str, state_dir: Path) -> tuple[float, dict[str, Any]]:
    """Run the agent against a peer that sends 256 MB of junk after a normal resync; (growth in MB, status)."""
    async with agent_against(mode, state_dir) as (peer, daemon):
        await peer.line_starting("WAITING 1")
        watch = MemoryWatch(daemon)
        await peer.go()
        await peer.line_starting("SENT 1", watch)
        status = await settled(daemon, lambda ami: ami["malformed_frames"] >= 1, "the junk counted as malformed")
        growth = watch.growth()
        print(f"{mode}: the agent's memory grew by {growth:.1f} MB")
        return growth, status


@pytest.mark.heavy  # hostile peers and the agent as processes
class TestHostileAmiPeers:
    async def test_endless_resync_answer(self, tmp_path: Path) -> None:
        """Given a server answering CoreShowChannels with `EventList: start` and then channels forever, then the
        agent's memory grows by less than 50 MB, the log says the answer passed 10000 channels and the connection
        was dropped, the status shows it as the last error, and the agent reconnects."""
        growth, log, status = await dropped_and_back("resync", tmp_path)
        reason = "the CoreShowChannels answer has more than 10000 channels (EVENT_AGENT_AMI__RESYNC_MAX_CHANNELS)"
        assert growth < GROWTH_LIMIT_MB
        assert f"{reason}: {DROPPED}" in log
        assert f"AMI connection lost: {reason}" in log
        assert status["ami"]["last_error"] == reason

    async def test_events_flood_during_resync(self, tmp_path: Path) -> None:
        """Given a server that starts the CoreShowChannels answer and then sends ordinary events forever (the
        agent holds those until the answer completes), then memory grows by less than 50 MB, the log says what
        the held events came to, and the agent reconnects."""
        growth, log, status = await dropped_and_back("held", tmp_path)
        # 10000 channels (the default limit) at 3 KiB each: 30,000 KiB, a little over 29 MiB
        reason = ("the CoreShowChannels answer and the events that came with it take more than 29 MiB "
                  "(3 KiB per channel of EVENT_AGENT_AMI__RESYNC_MAX_CHANNELS)")
        assert growth < GROWTH_LIMIT_MB
        assert f"{reason}: {DROPPED}" in log
        assert status["ami"]["last_error"] == reason

    async def test_resync_deadline(self, tmp_path: Path) -> None:
        """Given a server that starts the CoreShowChannels answer and never completes it (answering Pings), with
        EVENT_AGENT_AMI__RESYNC_TIMEOUT=1, then the log says the answer did not complete within 1 s, and the agent
        reconnects."""
        async with agent_against("stall", tmp_path, ami__resync_timeout="1") as (peer, daemon):
            await peer.line_starting("CLOSED 1")
            await peer.line_starting("CONNECTED 2")
            await eventually(lambda: RESYNCED in daemon.log_text(), what="a resync on the next connection")
            status = await settled(daemon, reconnected, "connected again")
        reason = "the CoreShowChannels answer did not complete within 1 s (EVENT_AGENT_AMI__RESYNC_TIMEOUT)"
        assert f"{reason}: {DROPPED}" in daemon.log_text()
        assert status["ami"]["last_error"] == reason

    async def test_endless_banner(self, tmp_path: Path) -> None:
        """Given a server whose banner line never ends (with a login timeout of 10 s, long enough to buffer
        hundreds of MB), then memory grows by less than 50 MB, the log says the banner had no end, and the agent
        reconnects."""
        growth, log, status = await dropped_and_back("banner", tmp_path, ami__connect_timeout="10")
        reason = "the banner line has no end within 256 bytes"
        assert growth < GROWTH_LIMIT_MB
        assert f"{reason}: {DROPPED}" in log
        assert f"connection lost before Login was answered ({reason})" in log
        assert reason in status["ami"]["last_error"]

    @pytest.mark.parametrize("mode", ["frame", "headers"])
    async def test_junk_skipped(self, tmp_path: Path, mode: str) -> None:
        """Given a server that sends, after a normal resync, either one frame whose header line runs for 256 MB
        (`frame`) or 256 MB of events of 5,000 headers each (`headers`), then memory grows by less than 50 MB,
        the junk is counted as malformed, and the link stays up."""
        growth, status = await flooded(mode, tmp_path)
        assert growth < GROWTH_LIMIT_MB
        assert status["ami"]["connected"]
        assert status["ami"]["reconnects"] == 0
