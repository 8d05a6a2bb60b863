"""`event-agent demo` as a real subprocess: it prints the admin URL and token, calls flow into the activity log,
and SIGINT stops it with status 0."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp

from agent.devtools.demo import TRACES_DIR, demo_action
from agent.webhooks.template import tags_used

ROOT = Path(__file__).resolve().parent.parent
POLL_LIMIT_S = 90.0


async def _line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    return (await asyncio.wait_for(process.stdout.readline(), timeout=60)).decode().rstrip("\n")


async def _delivered(session: aiohttp.ClientSession, admin: str, token: str) -> list[dict[str, object]]:
    """Poll the activity log (bounded) until it holds delivered attempts."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + POLL_LIMIT_S
    while loop.time() < deadline:
        async with session.get(f"{admin}api/v1/activity", params={"failed": "false"},
                               headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 200
            items: list[dict[str, object]] = (await response.json())["items"]
        if items:
            return items
        await asyncio.sleep(0.5)
    return []


class TestDemo:
    def test_bundled(self) -> None:
        """Given the package, then it ships two or more traces and the demo action carries parameters."""
        assert len(list(TRACES_DIR.glob("*.ami"))) >= 2
        assert tags_used(demo_action("http://127.0.0.1:1")) >= {"event", "call_id", "Demo_API_Key"}

    async def test_demo_runs_and_stops(self, tmp_path: Path) -> None:
        """Given `event-agent demo`, when run, then Admin/Token lines, delivered activity, and exit 0 on SIGINT."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("EVENT_AGENT_")}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "demo", cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            admin_line, token_line = await _line(process), await _line(process)
            admin = re.fullmatch(r"Admin: (http://127\.0\.0\.1:\d+/)", admin_line)
            token = re.fullmatch(r"Token: (\S+)", token_line)
            assert admin, admin_line
            assert token, token_line
            assert process.stdout is not None
            assert process.stderr is not None
            output = asyncio.gather(process.stdout.read(), process.stderr.read())
            async with aiohttp.ClientSession() as session:
                items = await _delivered(session, admin.group(1), token.group(1))
            assert items, "no delivered activity within the polling limit"
            assert items[0]["action"] == "Demo sink"
            assert items[0]["status"] == 200
            process.send_signal(signal.SIGINT)
            status = await asyncio.wait_for(process.wait(), timeout=60)
            logs, errors = await output
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert status == 0, errors.decode()
        assert b"Traceback" not in logs + errors
        assert token.group(1).encode() not in logs + errors
        assert not os.listdir(tmp_path)
