"""A real admin API on loopback over a real SQLite file, for the admin API tests.

`send_test` really sends: it renders the action and posts it with aiohttp to wherever the action points (the
tests point actions at the receiver of tests/support/receiver.py).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from agent.admin_api.app import create_app
from agent.admin_api.deps import ApiDeps, TestResult
from agent.metrics import Metrics
from agent.store.facade import Store
from agent.store.model import Action
from agent.webhooks.request import render
from tests.support.settings import TOKEN, agent_settings

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


async def send_once(action: Action, values: Mapping[str, str]) -> TestResult:
    """What the daemon's Save & Test does, with a plain aiohttp session."""
    request = render(action, values)
    started = time.monotonic()
    try:
        async with aiohttp.ClientSession() as session, session.request(
            request.method, request.url, headers=list(request.headers), data=request.body or None,
            allow_redirects=False, timeout=aiohttp.ClientTimeout(total=10),
        ) as response:
            text = await response.text()
            return TestResult(response.status, text[:500], round((time.monotonic() - started) * 1000))
    except (aiohttp.ClientError, TimeoutError) as exc:
        return TestResult(0, str(exc) or type(exc).__name__, round((time.monotonic() - started) * 1000))


@dataclass
class Api:
    """A running app: its client, store and a count of config-change notifications."""

    client: TestClient[web.Request, web.Application]
    store: Store
    changes: list[int]

    def headers(self, token: str | None = TOKEN) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token is not None else {}

    async def call(self, method: str, path: str, *, token: str | None = TOKEN, **kwargs: Any) -> tuple[int, Any]:
        async with self.client.request(method, path, headers=self.headers(token), **kwargs) as response:
            body = await response.read()
            if response.content_type == "application/json" and body:
                return response.status, await response.json()
            return response.status, body.decode("utf-8", "replace")


@asynccontextmanager
async def running_api(tmp_path: Path, **overrides: Any) -> AsyncIterator[Api]:
    store = await Store.open(tmp_path / "agent.db")
    changes: list[int] = []
    deps = ApiDeps(
        store=store,
        settings=agent_settings(tmp_path),
        token=TOKEN,
        status=lambda: {"ami": {"connected": True, "last_event_at": "2026-11-28T12:00:00Z"},
                        "calls_in_progress": 2, "outbox_depth": 0, "counters": {"events": 7}},
        send_test=send_once,
        metrics=Metrics(),
        on_config_change=lambda: changes.append(1),
        clock=lambda: NOW,
    )
    deps = replace(deps, **overrides)
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(create_app(deps), host="127.0.0.1"))
    await client.start_server()
    try:
        yield Api(client, store, changes)
    finally:
        await client.close()
        await store.close()


def action_json(name: str = "crm", url: str = "http://127.0.0.1:9/hook", **changes: Any) -> dict[str, Any]:
    """A valid action body for POST/PUT /api/v1/actions."""
    doc: dict[str, Any] = {
        "name": name, "description": "to the CRM", "method": "POST", "url": url,
        "query": [{"key": "caller", "value": "{{caller_id}}"}],
        "headers": [{"key": "X-Key", "value": "{{API_Key}}"}],
        "body": {"type": "raw", "content_type": "application/json",
                 "raw": '{"event": "{{event}}", "call": "{{call_id}}"}'},
        "auth": {"type": "none"},
        "timeout_s": None,
    }
    doc.update(changes)
    return doc
