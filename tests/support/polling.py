"""The one way a test waits for something that happens in another task or process: poll until it holds."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

WAIT = 60.0  # an upper bound for "it happened" on a busy shared machine, never a measurement

Check = Callable[[], bool | Awaitable[bool]]


async def eventually(check: Check, within: float = WAIT, what: str = "condition", every: float = 0.02) -> None:
    """Poll `check` (a function, or a coroutine function) every `every` s until it holds; AssertionError naming
    `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not await _holds(check):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {within:g} s")
        await asyncio.sleep(every)


async def _holds(check: Check) -> bool:
    result = check()
    return bool(await result) if inspect.isawaitable(result) else bool(result)
