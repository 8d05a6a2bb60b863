"""The state directory and the database files are the agent's alone (docs/security.md).

Outside systemd (whose unit sets the state directory's mode and `UMask=0077`) the agent creates them itself,
whatever the umask: the state directory 0700, the database 0600. SQLite gives its `-wal` and `-shm` files the
database's permissions, and a database left 0644 by an older version is made 0600 (with those files) at open.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create `path` (and missing parents) with mode 0700 when it does not exist; an existing one is left as is."""
    if not path.is_dir():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        path.chmod(DIR_MODE)


def private_database(path: Path) -> None:
    """Create the database file with mode 0600 when missing; make it and its -wal/-shm files 0600 (files of
    another owner are left to that owner)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            file.chmod(FILE_MODE)
