"""The store on a real SQLite file: schema, events, actions, parameters, rates, outbox, activity."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from agent.mapping.catalog import EVENT_KEYS
from agent.store.facade import Conflict, NewActivity, NewDelivery, NotFound, RateRow, Store
from agent.store.model import Action, Auth, Body, KeyValue, Parameter, RenderedRequest
from tests.support.store_rows import delivery, outbox_counts, pending


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "agent.db")
    yield opened
    await opened.close()


def _action(name: str = "crm", **changes: object) -> Action:
    base = Action(
        name=name, method="POST", url="https://crm.example/{{call_id}}", description="to the CRM",
        query=(KeyValue("a", "{{caller_id}}"), KeyValue("a", "2")),
        headers=(KeyValue("X-Tenant", "{{tenant}}"),),
        body=Body(type="raw", raw='{"n": "{{caller_id}}"}', content_type="application/json"),
        auth=Auth(type="api_key", key="X-Key", value="{{KEY}}", place="query"), timeout_s=3.5,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _delivery(call_id: str, action_id: int, event: str = "call_answered", at: float = 100.0) -> NewDelivery:
    request = RenderedRequest("POST", "http://127.0.0.1:1/x", (("A", "1"), ("A", "2")), b"\x00body", 2.0)
    return NewDelivery(f"{call_id}-{event}", event, call_id, action_id, "crm", request, "final", at, at + 86400, at)


def _activity(date: float, status: int = 200, action: str = "crm", event: str = "call_answered") -> NewActivity:
    return NewActivity(action, 1, event, "c1", 1, status, f"ok {date}", 12.5, date)


class TestSchema:
    async def test_migrated(self, tmp_path: Path) -> None:
        """Given a new file, when opened twice, then the schema is at the latest version and events seeded once."""
        path = tmp_path / "agent.db"
        for _ in range(2):
            store = await Store.open(path)
            await store.close()
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == 2
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 5


class TestEvents:
    async def test_seeded(self, store: Store) -> None:
        """Given a new store, when events are listed, then the five predefined ones are there, inactive."""
        events = await store.list_events()
        assert {e.key for e in events} == EVENT_KEYS
        assert not any(e.active for e in events)

    async def test_update(self, store: Store) -> None:
        """Given two actions, when an event is activated and bound to both, then the binding keeps the order."""
        a = await store.create_action(_action("a"))
        b = await store.create_action(_action("b"))
        assert a.id is not None
        assert b.id is not None
        event = await store.update_event("ringing", active=True, description="d", action_ids=[b.id, a.id])
        assert (event.active, event.description, event.action_ids) == (True, "d", (b.id, a.id))
        assert [x.name for x in await store.bindings_for("ringing")] == ["b", "a"]

    async def test_bad_binding_rolls_back(self, store: Store) -> None:
        """Given a bound event, when rebinding to an unknown action, then NotFound and nothing changed."""
        a = await store.create_action(_action("a"))
        assert a.id is not None
        await store.update_event("ringing", action_ids=[a.id])
        with pytest.raises(NotFound):
            await store.update_event("ringing", active=True, action_ids=[a.id, 999])
        event = await store.get_event("ringing")
        assert (event.active, event.action_ids) == (False, (a.id,))

    async def test_inactive_has_no_bindings(self, store: Store) -> None:
        """Given an inactive event with a bound action, when asking its bindings, then there are none."""
        a = await store.create_action(_action("a"))
        assert a.id is not None
        await store.update_event("call_answered", action_ids=[a.id])
        assert await store.bindings_for("call_answered") == []

    async def test_unknown(self, store: Store) -> None:
        """Given no such event, when updated, then NotFound."""
        with pytest.raises(NotFound):
            await store.update_event("nope", active=True)

    async def test_switch(self, store: Store) -> None:
        """Given a new store, when the switch is turned on, then it reads back on (default off)."""
        assert not (await store.get_settings()).actions_enabled
        await store.set_actions_enabled(True)
        assert (await store.get_settings()).actions_enabled


class TestActions:
    async def test_round_trip(self, store: Store) -> None:
        """Given a full action, when stored and read back, then it equals the original but for the id."""
        original = _action()
        stored = await store.create_action(original)
        assert stored.id is not None
        assert await store.get_action(stored.id) == _action(id=stored.id)

    async def test_duplicate_name(self, store: Store) -> None:
        """Given an action, when another with the same name is created, then Conflict."""
        await store.create_action(_action("x"))
        with pytest.raises(Conflict):
            await store.create_action(_action("x"))

    async def test_batch_is_atomic(self, store: Store) -> None:
        """Given a batch whose third action repeats a name, when created, then none is stored."""
        with pytest.raises(Conflict):
            await store.import_collection([_action("p"), _action("q"), _action("p")], ())
        assert await store.list_actions() == ([], 0)

    async def test_update_and_rename_conflict(self, store: Store) -> None:
        """Given two actions, when one is renamed to the other's name, then Conflict; other updates apply."""
        a = await store.create_action(_action("a"))
        await store.create_action(_action("b"))
        with pytest.raises(Conflict):
            await store.update_action(_action("b", id=a.id))
        updated = await store.update_action(_action("a2", id=a.id, method="GET", body=Body()))
        assert (updated.name, updated.method, updated.body) == ("a2", "GET", Body())

    async def test_update_missing(self, store: Store) -> None:
        """Given no action 42, when updated or deleted, then NotFound."""
        with pytest.raises(NotFound):
            await store.update_action(_action(id=42))
        with pytest.raises(NotFound):
            await store.delete_action(42)

    async def test_delete_unbinds(self, store: Store) -> None:
        """Given an action bound to two events, when deleted, then both events lose it."""
        a = await store.create_action(_action("a"))
        assert a.id is not None
        await store.update_event("ringing", action_ids=[a.id])
        await store.update_event("call_hangup", action_ids=[a.id])
        assert await store.action_events() == {a.id: ("call_hangup", "ringing")}
        await store.delete_action(a.id)
        assert (await store.get_event("ringing")).action_ids == ()
        assert await store.action_events() == {}

    async def test_search_and_pages(self, store: Store) -> None:
        """Given 5 actions, when searching and paging, then the total counts all matches and pages slice them."""
        hooks = [_action(f"hook-{i}") for i in range(4)]
        await store.import_collection([*hooks, _action("other", url="http://x/")], ())
        items, total = await store.list_actions("hook", page=2, per_page=3)
        assert (total, [a.name for a in items]) == (4, ["hook-3"])
        items, total = await store.list_actions("100%")
        assert (items, total) == ([], 0)


class TestParameters:
    async def test_crud(self, store: Store) -> None:
        """Given a custom parameter, when created, updated and deleted, then each step reads back."""
        await store.create_parameter(Parameter("Srv/Tenant-ID", "t1", secret=True))
        await store.update_parameter(Parameter("Srv/Tenant-ID", "t2"))
        assert await store.list_parameters() == [Parameter("Srv/Tenant-ID", "t2", False)]
        assert await store.parameter_values() == {"Srv/Tenant-ID": "t2"}
        await store.delete_parameter("Srv/Tenant-ID")
        with pytest.raises(NotFound):
            await store.get_parameter("Srv/Tenant-ID")

    async def test_conflicts(self, store: Store) -> None:
        """Given a parameter, when created again or a system tag is created, then Conflict."""
        await store.create_parameter(Parameter("IP", "1"))
        with pytest.raises(Conflict):
            await store.create_parameter(Parameter("IP", "2"))
        with pytest.raises(Conflict):
            await store.create_parameter(Parameter("call_id", "x"))
        with pytest.raises(NotFound):
            await store.update_parameter(Parameter("nope", "x"))


class TestImportCollection:
    async def test_writes_both(self, store: Store) -> None:
        """Given two parameters and two actions, when imported, then all four are stored and the actions returned."""
        created = await store.import_collection([_action("a"), _action("b")], [Parameter("IP", "1"),
                                                                              Parameter("KEY", "k", secret=True)])
        assert [action.name for action in created] == ["a", "b"]
        assert [action.name for action in await store.all_actions()] == ["a", "b"]
        assert await store.list_parameters() == [Parameter("IP", "1"), Parameter("KEY", "k", True)]

    async def test_last_action_conflict(self, store: Store) -> None:
        """Given an action x, when an import whose last action is x is written, then Conflict and neither its
        parameters nor its other actions are stored."""
        await store.create_action(_action("x"))
        with pytest.raises(Conflict):
            await store.import_collection([_action("a"), _action("b"), _action("x")],
                                          [Parameter("IP", "1"), Parameter("KEY", "k")])
        assert [action.name for action in await store.all_actions()] == ["x"]
        assert await store.list_parameters() == []

    @pytest.mark.parametrize("tag", ["IP", "call_id"], ids=["custom", "system"])
    async def test_parameter_conflict(self, store: Store, tag: str) -> None:
        """Given a custom parameter IP, when an import creates IP (or a system tag) last, then Conflict and
        nothing of the import is stored."""
        await store.create_parameter(Parameter("IP", "keep"))
        with pytest.raises(Conflict):
            await store.import_collection([_action("a")], [Parameter("fresh", "1"), Parameter(tag, "2")])
        assert await store.list_parameters() == [Parameter("IP", "keep")]
        assert await store.all_actions() == []


class TestRates:
    async def test_crud(self, store: Store) -> None:
        """Given rates, when created, updated, replaced and deleted, then each step reads back."""
        rate = await store.create_rate(RateRow("0044", "0.05", "0.01", 30, 6, "UK"))
        assert rate.id is not None
        with pytest.raises(Conflict):
            await store.create_rate(RateRow("0044", "1"))
        updated = await store.update_rate(RateRow("0044", "0.07", id=rate.id))
        assert (updated.price_per_minute, updated.increment_s) == ("0.07", 1)
        rates = await store.replace_rates([RateRow("1", "0.01"), RateRow("33", "0.02")])
        assert [r.prefix for r in rates] == ["1", "33"]
        await store.delete_rate(rates[0].id or 0)
        assert [r.prefix for r in await store.list_rates()] == ["33"]

    async def test_replace_is_atomic(self, store: Store) -> None:
        """Given a rate, when replaced by a list with a duplicate prefix, then Conflict and the old rate stays."""
        await store.create_rate(RateRow("1", "0.01"))
        with pytest.raises(Conflict):
            await store.replace_rates([RateRow("2", "1"), RateRow("2", "1")])
        assert [r.prefix for r in await store.list_rates()] == ["1"]


class TestOutbox:
    async def test_enqueue_round_trip(self, store: Store) -> None:
        """Given two deliveries, when enqueued, then they come back in order with their requests intact."""
        stored = await store.enqueue([_delivery("c1", 1), _delivery("c2", 1)])
        assert [d.call_id for d in stored] == ["c1", "c2"]
        assert stored[0].seq < stored[1].seq
        assert stored[0].request == _delivery("c1", 1).request
        assert (stored[0].state, stored[0].attempts) == ("pending", 0)
        assert await store.pending_count() == 2

    async def test_settle(self, store: Store) -> None:
        """Given a row, when rescheduled with an activity, then both are saved; when failed, it leaves pending."""
        (row,) = await store.enqueue([_delivery("c1", 1)])
        await store.settle(row.id, state="pending", attempts=1, next_attempt_at=160.0, now=150.0,
                           activity=_activity(150.0, 500))
        again = delivery(store, row.id)
        assert (again.attempts, again.next_attempt_at) == (1, 160.0)
        await store.settle(row.id, state="failed", attempts=2, next_attempt_at=170.0, now=170.0)
        assert await pending(store) == []
        assert outbox_counts(store) == {"failed": 1}
        assert (await store.search_activity())[1] == 1
        assert await store.purge_outbox(before=171.0) == 1


    async def test_concurrent_settles(self, store: Store) -> None:
        """Given 50 rows settled concurrently, when all return, then every outcome and activity row is saved."""
        rows = await store.enqueue([_delivery(f"c{i}", 1) for i in range(50)])
        await asyncio.gather(*(store.settle(r.id, state="delivered", attempts=1, next_attempt_at=1.0, now=1.0,
                                            activity=_activity(float(r.id))) for r in rows))
        assert outbox_counts(store) == {"delivered": 50}
        assert (await store.search_activity())[1] == 50

    async def test_big_enqueue(self, store: Store) -> None:
        """Given 1,200 rows (more than one statement holds), when enqueued, then ids and seqs match the file."""
        rows = await store.enqueue([_delivery(f"c{i}", 1) for i in range(1200)])
        assert [r.id for r in rows] == [r.id for r in await pending(store)]
        assert [r.seq for r in rows] == sorted(r.seq for r in rows)
        assert delivery(store, rows[-1].id).call_id == "c1199"


class TestActivity:
    async def test_search(self, store: Store) -> None:
        """Given attempts, when searched with filters, then matches come newest first with the total."""
        for date, status in ((1.0, 200), (2.0, 500), (3.0, 0), (4.0, 201)):
            await store.add_activity(_activity(date, status))
        await store.add_activity(_activity(5.0, 200, action="other", event="test.1.5"))
        items, total = await store.search_activity(action="crm", page=1, per_page=2)
        assert (total, [a.date for a in items]) == (4, [4.0, 3.0])
        items, _ = await store.search_activity(failed=True)
        assert [a.status for a in items] == [0, 500]
        items, _ = await store.search_activity("test.1")
        assert [a.action for a in items] == ["other"]
        assert (await store.search_activity(status=201))[1] == 1
        assert (await store.search_activity(event="call_answered", failed=False))[1] == 2

    async def test_purge(self, store: Store) -> None:
        """Given attempts at 1..3, when purged before 2.5, then only the one at 3 remains."""
        for date in (1.0, 2.0, 3.0):
            await store.add_activity(_activity(date))
        assert await store.purge_activity(before=2.5) == 2
        items, _ = await store.search_activity()
        assert [a.date for a in items] == [3.0]
