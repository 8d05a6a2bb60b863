"""The state directory and the database are the agent's alone, whatever the umask (docs/security.md)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.app import DATABASE_FILE
from agent.store.facade import Store
from agent.store.model import Parameter
from tests.support.agent_runner import running_agent
from tests.support.receiver import free_port
from tests.support.settings import agent_settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask of a shell or a cron job, which leaves new files readable by everyone."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("umask_022")
class TestModes:
    async def test_fresh_state(self, tmp_path: Path) -> None:
        """Given umask 022 and no state directory, when the agent starts (generated token) and writes, then the
        directory is 0700 and the database, its -wal and -shm files and the token file are 0600."""
        state = tmp_path / "state"
        settings = agent_settings(state, free_port(), ami={"reconnect_min": 1.0}, admin={"token": None})
        async with running_agent(settings) as agent:
            await agent.store.create_parameter(Parameter("Key", "s3cret", secret=True))
            files = [state / name for name in (DATABASE_FILE, f"{DATABASE_FILE}-wal", f"{DATABASE_FILE}-shm",
                                               "admin-token")]
            modes = {path.name: mode(path) for path in files}
        assert mode(state) == 0o700
        assert modes == dict.fromkeys(modes, 0o600)
        assert len(modes) == 4

    async def test_old_database_made_private(self, tmp_path: Path) -> None:
        """Given a database left 0644 by an earlier version, when it is opened, then it and its WAL are 0600."""
        path = tmp_path / DATABASE_FILE
        path.touch(mode=0o644)
        store = await Store.open(path)
        try:
            await store.create_parameter(Parameter("Key", "s3cret"))
            modes = [mode(path), mode(path.with_name(path.name + "-wal"))]
        finally:
            await store.close()
        assert modes == [0o600, 0o600]
