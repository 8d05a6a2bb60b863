"""A start that fails exits: the database held by another process (`BEGIN EXCLUSIVE`) when `event-agent run`
starts. The agent logs `cannot start` and exits with status 1 (README, "Reliability"), so systemd restarts it;
before, it logged `stopped` and then waited forever on the database connection's worker thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
from pathlib import Path

import pytest

from agent.app import DATABASE_FILE
from agent.store.facade import Store
from tests.support.paths import ROOT
from tests.support.settings import daemon_env

EXIT_WAIT = 60.0  # an upper bound for "it exited" on a busy machine (the agent waits 5 s for the lock)
LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("LOCKED", flush=True)
sys.stdin.read()  # hold the lock until the test closes our stdin
"""


def make_database(path: Path) -> None:
    """An existing database file (what a restarted agent finds), in WAL mode like the agent's."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("CREATE TABLE IF NOT EXISTS anything (x)")
    db.close()


class TestLockedAtStart:
    @pytest.mark.heavy  # the agent as a process
    async def test_exits_with_status_1(self, tmp_path: Path) -> None:
        """Given another process holding the database with BEGIN EXCLUSIVE, when `event-agent run` starts, then
        it logs `cannot start: database is locked` and the process exits with status 1 (not hanging)."""
        make_database(tmp_path / DATABASE_FILE)
        locker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LOCKER, str(tmp_path / DATABASE_FILE),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert locker.stdout is not None
        assert locker.stdin is not None
        try:
            assert await asyncio.wait_for(locker.stdout.readline(), EXIT_WAIT) == b"LOCKED\n"
            agent = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "agent", "run", cwd=ROOT, env=daemon_env(tmp_path, 1),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            try:
                output, _ = await asyncio.wait_for(agent.communicate(), EXIT_WAIT)
            except TimeoutError:
                agent.kill()
                output, _ = await agent.communicate()
                raise AssertionError(f"the agent did not exit: {output.decode(errors='replace')}") from None
        finally:
            locker.stdin.close()
            await locker.wait()
        text = output.decode(errors="replace")
        assert agent.returncode == 1, text
        assert "cannot start: database is locked" in text

    async def test_no_thread_left(self, tmp_path: Path) -> None:
        """Given a state file that is not a database, when the store is opened, then it raises and leaves no
        database worker thread behind (that thread is what kept the process alive)."""
        path = tmp_path / DATABASE_FILE
        path.write_bytes(b"this is not an SQLite database, just text" * 100)
        before = set(threading.enumerate())
        with pytest.raises(sqlite3.DatabaseError):
            await Store.open(path)
        left = [thread for thread in threading.enumerate() if thread not in before]
        for thread in left:
            thread.join(EXIT_WAIT / 10)  # a closed connection's thread ends at once; an open one never does
        assert [thread for thread in left if thread.is_alive()] == []
