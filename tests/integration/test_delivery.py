"""Dispatcher + sender + store against a real aiohttp receiver on 127.0.0.1 and a real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.store.facade import Store
from agent.store.model import Action, Body, KeyValue, Parameter
from agent.store.records import Delivery
from agent.webhooks.request import render
from tests.support.delivery import Engine, engine, system_event
from tests.support.receiver import Reply, free_port, receiver
from tests.support.settings import fast_delivery
from tests.support.store_rows import delivery, outbox_counts


async def _bind(store: Store, event: str, *actions: Action, enabled: bool = True) -> list[int]:
    created = [await store.create_action(action) for action in actions]
    ids = [a.id or 0 for a in created]
    await store.update_event(event, active=True, action_ids=ids)
    await store.set_actions_enabled(enabled)
    return ids


def _hook(name: str, url: str, **changes: object) -> Action:
    return Action(name=name, method="POST", url=url, body=Body(type="raw", raw="{{event}} {{call_id}}",
                  content_type="text/plain"), **changes)  # type: ignore[arg-type]


async def _idle(e: Engine) -> None:
    async with asyncio.timeout(20):
        await e.sender.wait_idle()


async def _quiet(e: Engine) -> None:
    async with asyncio.timeout(20):
        await e.sender.wait_quiet()


class TestDispatch:
    async def test_delivers_with_parameters(self, tmp_path: Path) -> None:
        """Given an active bound action using a custom parameter, when an event fires, then it arrives filled in."""
        async with receiver() as rx, engine(tmp_path / "a.db") as e:
            await e.store.create_parameter(Parameter("Token", "s3cr3t", secret=True))
            url = rx.url + "/hook/{{call_id}}?ext={{extension}}&t={{Token}}"
            await _bind(e.store, "call_answered", _hook("crm", url))
            await e.dispatcher.dispatch([system_event("call_answered", "1700.1")])
            await _idle(e)
            (got,) = rx.requests
            assert (got.method, got.path, got.query_string, got.body) == (
                "POST", "/hook/1700.1", "ext=201&t=s3cr3t", b"call_answered 1700.1")
            assert outbox_counts(e.store) == {"delivered": 1}

    async def test_switch_off(self, tmp_path: Path) -> None:
        """Given the global switch off, when a bound active event fires, then nothing is enqueued or sent."""
        async with receiver() as rx, engine(tmp_path / "a.db") as e:
            await _bind(e.store, "call_answered", _hook("crm", rx.url + "/x"), enabled=False)
            assert await e.dispatcher.dispatch([system_event("call_answered", "c1")]) == []
            assert (outbox_counts(e.store), rx.requests) == ({}, [])

    async def test_inactive_event(self, tmp_path: Path) -> None:
        """Given a bound action on an inactive event, when the event fires, then nothing is enqueued."""
        async with receiver() as rx, engine(tmp_path / "a.db") as e:
            await _bind(e.store, "ringing", _hook("crm", rx.url + "/x"))
            await e.store.update_event("ringing", active=False)
            e.dispatcher.invalidate()
            assert await e.dispatcher.dispatch([system_event("ringing", "c1")]) == []

    async def test_unbound_event(self, tmp_path: Path) -> None:
        """Given an action bound to another event only, when this event fires, then nothing is enqueued."""
        async with receiver() as rx, engine(tmp_path / "a.db") as e:
            await _bind(e.store, "call_answered", _hook("crm", rx.url + "/x"))
            await e.store.update_event("call_hangup", active=True)
            assert await e.dispatcher.dispatch([system_event("call_hangup", "c1")]) == []

    async def test_change_without_restart(self, tmp_path: Path) -> None:
        """Given a cached config with the switch off, when it is turned on and invalidated, then events go out."""
        async with receiver() as rx, engine(tmp_path / "a.db") as e:
            await _bind(e.store, "call_answered", _hook("crm", rx.url + "/x"), enabled=False)
            assert await e.dispatcher.dispatch([system_event("call_answered", "c1")]) == []
            await e.store.set_actions_enabled(True)
            e.dispatcher.invalidate()
            assert len(await e.dispatcher.dispatch([system_event("call_answered", "c2")])) == 1

    async def test_one_row_per_binding(self, tmp_path: Path) -> None:
        """Given two actions bound to one event, when two events fire together, then four rows in one batch."""
        async with receiver() as rx, engine(tmp_path / "a.db") as e:
            await _bind(e.store, "call_hangup", _hook("a", rx.url + "/a"), _hook("b", rx.url + "/b"))
            rows = await e.dispatcher.dispatch([system_event("call_hangup", "c1", extension="201"),
                                                system_event("call_hangup", "c1", extension="202")])
            assert [(r.action_name, r.profile) for r in rows] == [("a", "final"), ("b", "final")] * 2
            await _idle(e)
            assert sorted(r.path for r in rx.requests) == ["/a", "/a", "/b", "/b"]


class TestRetries:
    async def test_500_twice_then_200(self, tmp_path: Path) -> None:
        """Given a receiver answering 500, 500, 200, when delivering, then 3 attempts, 3 activity rows, delivered."""
        async with receiver() as rx, engine(tmp_path / "a.db") as e:
            rx.on("/x", Reply(500, "boom"), Reply(500, "boom"), Reply(200, "fine"))
            await _bind(e.store, "call_answered", _hook("crm", rx.url + "/x"))
            await e.dispatcher.dispatch([system_event("call_answered", "c1")])
            await _idle(e)
            assert len(rx.requests) == 3
            items, total = await e.store.search_activity()
            assert total == 3
            assert [(a.attempt, a.status, a.message) for a in items] == [(3, 200, "fine"), (2, 500, "boom"),
                                                                        (1, 500, "boom")]
            assert outbox_counts(e.store) == {"delivered": 1}

    async def test_retry_after_honoured(self, tmp_path: Path) -> None:
        """Given a 429 with Retry-After: 1 and a 50 ms backoff, when retried, then the next attempt waits 1 s."""
        async with receiver() as rx, engine(tmp_path / "a.db") as e:
            rx.on("/x", Reply(429, "slow down", {"Retry-After": "1"}))
            await _bind(e.store, "call_answered", _hook("crm", rx.url + "/x"))
            (row,) = await e.dispatcher.dispatch([system_event("call_answered", "c1")])
            await _quiet(e)
            stored = delivery(e.store, row.id)
            (first,), _ = await e.store.search_activity()
            assert (stored.state, stored.attempts, first.status) == ("pending", 1, 429)
            assert stored.next_attempt_at - first.date >= 1.0
            await _idle(e)
            items, _ = await e.store.search_activity()
            assert items[0].date - items[1].date >= 1.0

    async def test_404_gives_up(self, tmp_path: Path) -> None:
        """Given a receiver answering 404, when delivering, then one attempt and the row failed."""
        async with receiver() as rx, engine(tmp_path / "a.db") as e:
            rx.on("/x", Reply(404, "no such hook"))
            await _bind(e.store, "call_answered", _hook("crm", rx.url + "/x"))
            await e.dispatcher.dispatch([system_event("call_answered", "c1")])
            await _idle(e)
            assert len(rx.requests) == 1
            assert outbox_counts(e.store) == {"failed": 1}

    async def test_invalid_url_gives_up(self, tmp_path: Path) -> None:
        """Given a URL whose host parameter is undefined, when delivering, then one attempt, failed, URL not shown."""
        async with engine(tmp_path / "a.db") as e:
            await _bind(e.store, "call_answered", _hook("crm", "{{NOPE}}/x?key=s3cr3t"))
            await e.dispatcher.dispatch([system_event("call_answered", "c1")])
            await _idle(e)
            (attempt,), _ = await e.store.search_activity()
            assert (attempt.status, "key=" in attempt.message) == (0, False)
            assert outbox_counts(e.store) == {"failed": 1}

    async def test_redirect_not_followed(self, tmp_path: Path) -> None:
        """Given a 302 to another path, when delivering, then it is not followed and given up with a message."""
        async with receiver() as rx, engine(tmp_path / "a.db") as e:
            rx.on("/x", Reply(302, "", {"Location": "/elsewhere"}))
            await _bind(e.store, "call_answered", _hook("crm", rx.url + "/x"))
            await e.dispatcher.dispatch([system_event("call_answered", "c1")])
            await _idle(e)
            assert [r.path for r in rx.requests] == ["/x"]
            (attempt,), _ = await e.store.search_activity()
            assert (attempt.status, attempt.message) == (302, "redirect 302 to /elsewhere not followed")

    async def test_down_then_up(self, tmp_path: Path) -> None:
        """Given an endpoint that is down, when it comes up after a failed attempt, then the row is delivered."""
        port = free_port()
        async with engine(tmp_path / "a.db") as e:
            await _bind(e.store, "call_answered", _hook("crm", f"http://127.0.0.1:{port}/x"))
            await e.dispatcher.dispatch([system_event("call_answered", "c1")])
            await _quiet(e)
            async with receiver(port) as rx:
                await _idle(e)
                assert len(rx.requests) == 1
            items, _ = await e.store.search_activity()
            assert items[0].status == 200
            assert {a.status for a in items[1:]} == {0}

    async def test_live_event_expires(self, tmp_path: Path) -> None:
        """Given a ringing event to a dead endpoint and a 0.3 s live window, when retried, then it expires."""
        port = free_port()
        async with engine(tmp_path / "a.db", fast_delivery(live_retry_window=0.3)) as e:
            await _bind(e.store, "ringing", _hook("crm", f"http://127.0.0.1:{port}/x"))
            (row,) = await e.dispatcher.dispatch([system_event("ringing", "c1")])
            assert row.profile == "live"
            await _idle(e)
            stored = delivery(e.store, row.id)
            assert stored.state == "expired"
            assert stored.attempts >= 2
            assert (await e.store.search_activity())[1] == stored.attempts

    async def test_timeout(self, tmp_path: Path) -> None:
        """Given an endpoint that never answers and a 0.2 s action timeout, when sent, then status 0, timed out."""
        async with receiver() as rx, engine(tmp_path / "a.db") as e:
            rx.gates["/slow"] = asyncio.Event()
            action = _hook("crm", rx.url + "/slow", timeout_s=0.2)
            await _bind(e.store, "call_answered", action)
            (row,) = await e.dispatcher.dispatch([system_event("call_answered", "c1")])
            result = await e.sender.send(row.request)
            assert (result.status, result.message) == (0, "timed out after 0.2 s")


class TestOrdering:
    async def test_per_call_order(self, tmp_path: Path) -> None:
        """Given call A's first delivery held, when A and B emit more, then B proceeds and A's stay in order."""
        async with receiver() as rx, engine(tmp_path / "a.db") as e:
            rx.gates["/hold/A"] = asyncio.Event()
            await _bind(e.store, "call_hangup", _hook("crm", rx.url + "/{{call_key}}/{{call_id}}"))
            await e.store.update_event("call_answered", active=True, action_ids=[1])
            e.dispatcher.invalidate()
            await e.dispatcher.dispatch([system_event("call_hangup", "A", call_key="hold")])
            await rx.wait_for(1)
            await e.dispatcher.dispatch([system_event("call_answered", "A", call_key="next")])
            await e.dispatcher.dispatch([system_event("call_hangup", "B", call_key="b1")])
            await e.dispatcher.dispatch([system_event("call_answered", "B", call_key="b2")])
            await rx.wait_for(3)
            assert [r.path for r in rx.requests] == ["/hold/A", "/b1/B", "/b2/B"]
            rx.gates["/hold/A"].set()
            await _idle(e)
            assert [r.path for r in rx.requests][3:] == ["/next/A"]

    async def test_order_survives_retries(self, tmp_path: Path) -> None:
        """Given call A's first delivery failing twice, when A emits a second event, then it arrives after."""
        async with receiver() as rx, engine(tmp_path / "a.db") as e:
            rx.on("/1", Reply(503), Reply(503))
            await _bind(e.store, "call_hangup", _hook("crm", rx.url + "/{{n}}"))
            await e.dispatcher.dispatch([system_event("call_hangup", "A", n="1")])
            await e.dispatcher.dispatch([system_event("call_hangup", "A", n="2", extension="202")])
            await _idle(e)
            assert [r.path for r in rx.requests] == ["/1", "/1", "/1", "/2"]


class TestResume:
    async def test_pending_rows_resume(self, tmp_path: Path) -> None:
        """Given rows left pending by a stopped engine, when a new engine starts, then they are delivered."""
        port = free_port()
        rows: list[Delivery] = []
        async with engine(tmp_path / "a.db") as e:
            await _bind(e.store, "call_answered", _hook("crm", f"http://127.0.0.1:{port}/x"))
            rows = await e.dispatcher.dispatch([system_event("call_answered", "c1"),
                                                system_event("call_answered", "c2")])
            await _quiet(e)
            assert await e.store.pending_count() == 2
        async with receiver(port) as rx, engine(tmp_path / "a.db", fast_delivery(retry_initial_delay=0.01)) as e:
            await e.store.update_event("call_answered", active=False)
            await rx.wait_for(2)
            await _idle(e)
            assert sorted(r.body for r in rx.requests) == [b"call_answered c1", b"call_answered c2"]
            assert [delivery(e.store, r.id).state for r in rows] == ["delivered", "delivered"]


class TestSendOnce:
    async def test_save_and_test(self, tmp_path: Path) -> None:
        """Given an action, when sent once, then the receiver answers and nothing is queued or recorded."""
        async with receiver() as rx, engine(tmp_path / "a.db") as e:
            rx.on("/t", Reply(201, "created"))
            action = Action(name="t", method="GET", url=rx.url + "/t", query=(KeyValue("a", "b"),))
            result = await e.sender.send_once(render(action, {}), action="t", event_name="test.1.2")
            assert (result.status, result.message) == (201, "created")
            assert rx.requests[0].query_string == "a=b"
            assert (await e.store.search_activity())[1] == 0
