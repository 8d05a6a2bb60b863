"""The delivery path shares the event loop: large batches are cut into steps, and their order and atomicity hold."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.webhooks.dispatcher import RENDER_CHUNK
from agent.webhooks.model import Action
from tests.delivery_support import engine, system_event


class TestDispatchSteps:
    async def test_large_batch_yields_and_keeps_order(self, tmp_path: Path) -> None:
        """Given a batch of 3 render chunks, when dispatched, then another task runs meanwhile and the rows are
        one consecutive run in emission order."""
        async with engine(tmp_path / "a.db") as e:
            action = await e.store.create_action(Action(name="crm", method="POST", url="http://127.0.0.1:9/x"))
            await e.store.update_event("call_answered", active=True, action_ids=[action.id or 0])
            await e.store.set_actions_enabled(True)
            await e.dispatcher.config()
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0)

            task = asyncio.create_task(ticker())
            await asyncio.sleep(0)
            before = ticks
            events = [system_event("call_answered", f"c{i}") for i in range(3 * RENDER_CHUNK)]
            rows = await e.dispatcher._plan(events)
            during = ticks - before
            task.cancel()
            assert during >= 2
            assert [row.call_id for row in rows] == [f"c{i}" for i in range(3 * RENDER_CHUNK)]
            assert len({row.created_at for row in rows}) == 1

    async def test_large_batch_is_one_run(self, tmp_path: Path) -> None:
        """Given a batch of 3 render chunks, when dispatched, then its rows are stored with consecutive sequence
        numbers in emission order."""
        async with engine(tmp_path / "a.db") as e:
            action = await e.store.create_action(Action(name="crm", method="POST", url="http://127.0.0.1:9/x"))
            await e.store.update_event("call_answered", active=True, action_ids=[action.id or 0])
            await e.store.set_actions_enabled(True)
            events = [system_event("call_answered", f"c{i}") for i in range(3 * RENDER_CHUNK)]
            stored = await e.dispatcher.dispatch(events)
            assert [(row.call_id, row.seq) for row in stored] == [(f"c{i}", i + 1) for i in range(3 * RENDER_CHUNK)]
            assert await e.store.pending_count() == 3 * RENDER_CHUNK
