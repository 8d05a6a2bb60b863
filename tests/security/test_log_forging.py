"""Log forging (docs/security.md): a value from the PBX with a line feed in it cannot write a line of its own.

A caller or a carrier controls some AMI values, and a broken or hostile AMI server controls them all. Here the
real simulator serves trace 01 (201 calls 202, who answers) with the call's Linkedid (and the caller's Uniqueid,
which equals it) rewritten to carry a bare LF and a fake log line; `event-agent run` logs the completed call.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.reliability.harness import sim_process
from tests.support.agent_runner import Daemon
from tests.support.paths import TRACES
from tests.support.polling import eventually

TRACE = TRACES / "01_internal_answered_caller_hangup.ami"
CALL_ID = "1795871929.34"
FORGED = "FORGED ERROR agent: the admin token is 0000"


def forged_trace(tmp_path: Path) -> Path:
    data = TRACE.read_bytes()
    pattern = re.compile(re.escape(CALL_ID.encode()) + rb"(?![0-9])")
    path = tmp_path / "forged.ami"
    path.write_bytes(pattern.sub(f"{CALL_ID}\n{FORGED}".encode(), data))
    return path


@pytest.mark.heavy  # the agent as a process
class TestLogForging:
    async def test_linkedid_with_line_feed(self, tmp_path: Path) -> None:
        """Given a call whose Linkedid holds a bare LF followed by a fake log line, when the agent logs the
        completed call, then the value is escaped on the call's own line (`\\n`) and no line of the log starts
        with the fake text."""
        async with sim_process([forged_trace(tmp_path)]) as sim:
            (tmp_path / "state").mkdir()
            daemon = await Daemon(tmp_path / "state", sim.port).start()
            try:
                await eventually(lambda: "call_answered" in daemon.log_text(), what="the call logged")
            finally:
                assert await daemon.stop() == 0
        lines = daemon.log_text().splitlines()
        assert not [line for line in lines if line.startswith("FORGED")]
        call = [line for line in lines if "call_answered" in line]
        assert len(call) == 1
        assert f"call {CALL_ID}\\n{FORGED} call_answered direction=internal" in call[0]
