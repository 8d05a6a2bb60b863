"""The soak run (`make soak` = `pytest -q -m slow tests/soak`): long forms of the fault tests, the 100,000-call
load and the 1,000-concurrent-call run. Every test records rows (tests/reliability/report.py); the table of all
rows is printed at the end of the run.

Slow tests never run in the default `make test` run: tests/conftest.py deselects them when no `-m` expression
names `slow` (so the suite stays within its time budget whatever pyproject's addopts say).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.reliability.report import REPORT_ENV, load, table

_REPORT = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    path = Path(tempfile.mkdtemp(prefix="soak-")) / "rows.jsonl"
    config.stash[_REPORT] = path
    os.environ.setdefault(REPORT_ENV, str(path))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    rows = load(Path(os.environ.get(REPORT_ENV, str(config.stash[_REPORT]))))
    if rows:
        terminalreporter.section("reliability and soak figures")
        terminalreporter.write_line(table(rows))
        notes = [f"- {row.fault}: {row.note}" for row in rows if row.note]
        for line in notes:
            terminalreporter.write_line(line)
