"""An event loop in its own thread, for tests that have none of their own (the browser tests drive Playwright's
synchronous API): the receiver and the agent process run there, the test calls them through `run`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from tests.support.polling import WAIT

T = TypeVar("T")


class BackgroundLoop:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def run(self, coroutine: Coroutine[Any, Any, T], within: float = WAIT) -> T:
        """Run `coroutine` on the loop's thread and wait (at most `within` s) for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=within)


@contextmanager
def background_loop() -> Iterator[BackgroundLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-loop", daemon=True)
    thread.start()
    try:
        yield BackgroundLoop(loop)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
