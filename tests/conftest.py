"""Suite-wide rules: which tests `make quick` leaves out, and the soak's long runs kept out of every run that
does not ask for them. The shared helpers are in tests/support/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.receiver import Receiver, receiver

TESTS = Path(__file__).resolve().parent
HEAVY_FOLDERS = frozenset({"reliability", "soak"})  # every test in these folders counts as heavy


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HEAVY_FOLDERS.intersection(item.path.resolve().relative_to(TESTS).parts[:-1]):
            item.add_marker(pytest.mark.heavy)
    _deselect_slow(config, items)


def _deselect_slow(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests (the soak) run only when a `-m` expression names `slow` (`make soak`), whatever the addopts."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]


@pytest.fixture
async def rx() -> AsyncIterator[Receiver]:
    """A started webhook receiver on 127.0.0.1 (tests/support/receiver.py)."""
    async with receiver() as running:
        yield running
