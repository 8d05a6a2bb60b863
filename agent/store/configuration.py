"""What the administrator configures: the five events and the actions bound to them, the global switch, the
actions themselves and the custom parameters (docs/actions.md, docs/events.md)."""

# ruff: noqa: S608  (SQL is built from constant fragments only; every value is a bound parameter)

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

import aiosqlite

from agent.mapping.catalog import ALL_PARAMETERS
from agent.store.database import Tables, like_pattern, page_bounds
from agent.store.model import Action, Parameter
from agent.store.records import (
    Conflict,
    EventRecord,
    NotFound,
    Page,
    StoreSettings,
    action_from_row,
    action_parts_to_json,
)

_ACTION_COLUMNS = "id, name, description, method, url, timeout_s, parts"


def _parameter(row: aiosqlite.Row) -> Parameter:
    return Parameter(row["tag"], row["value"], bool(row["secret"]))


class ConfigurationTables(Tables):
    """Tables `events`, `event_actions`, `settings`, `actions` and `parameters`."""

    # events and the global switch

    async def list_events(self) -> list[EventRecord]:
        rows = await self._db.rows("SELECT key, name, description, active FROM events ORDER BY name")
        bound = await self._db.rows("SELECT event_key, action_id FROM event_actions ORDER BY position, action_id")
        ids: dict[str, list[int]] = {}
        for link in bound:
            ids.setdefault(link["event_key"], []).append(link["action_id"])
        return [EventRecord(r["key"], r["name"], r["description"], bool(r["active"]), tuple(ids.get(r["key"], ())))
                for r in rows]

    async def get_event(self, key: str) -> EventRecord:
        for event in await self.list_events():
            if event.key == key:
                return event
        raise NotFound(f"event {key!r} does not exist")

    async def update_event(
        self, key: str, *, active: bool | None = None, description: str | None = None,
        action_ids: Sequence[int] | None = None,
    ) -> EventRecord:
        """Change an event's flag, description or bound actions (replaced as a whole, in the given order)."""
        async with self._db.write() as db:
            if await self._db.row("SELECT 1 FROM events WHERE key = ?", (key,)) is None:
                raise NotFound(f"event {key!r} does not exist")
            if active is not None:
                await db.execute("UPDATE events SET active = ? WHERE key = ?", (int(active), key))
            if description is not None:
                await db.execute("UPDATE events SET description = ? WHERE key = ?", (description, key))
            if action_ids is not None:
                await self._bind(db, key, action_ids)
        return await self.get_event(key)

    async def _bind(self, db: aiosqlite.Connection, key: str, action_ids: Sequence[int]) -> None:
        unique = list(dict.fromkeys(action_ids))
        for action_id in unique:
            if await self._db.row("SELECT 1 FROM actions WHERE id = ?", (action_id,)) is None:
                raise NotFound(f"action {action_id} does not exist")
        await db.execute("DELETE FROM event_actions WHERE event_key = ?", (key,))
        await db.executemany(
            "INSERT INTO event_actions (event_key, action_id, position) VALUES (?, ?, ?)",
            [(key, action_id, position) for position, action_id in enumerate(unique)],
        )

    async def get_settings(self) -> StoreSettings:
        row = await self._db.row("SELECT actions_enabled FROM settings WHERE id = 1")
        return StoreSettings(actions_enabled=bool(row and row["actions_enabled"]))

    async def set_actions_enabled(self, enabled: bool) -> StoreSettings:
        async with self._db.write() as db:
            await db.execute("UPDATE settings SET actions_enabled = ? WHERE id = 1", (int(enabled),))
        return StoreSettings(actions_enabled=enabled)

    async def bindings_for(self, event_key: str) -> list[Action]:
        """The actions bound to an event, in binding order; none when the event is inactive."""
        rows = await self._db.rows(
            f"SELECT {', '.join('a.' + c for c in _ACTION_COLUMNS.split(', '))} FROM event_actions ea "
            "JOIN events e ON e.key = ea.event_key JOIN actions a ON a.id = ea.action_id "
            "WHERE ea.event_key = ? AND e.active = 1 ORDER BY ea.position, a.id",
            (event_key,),
        )
        return [action_from_row(row) for row in rows]

    async def action_events(self) -> dict[int, tuple[str, ...]]:
        """For every bound action id, the keys of the events it is bound to (sorted)."""
        rows = await self._db.rows("SELECT action_id, event_key FROM event_actions ORDER BY event_key")
        events: dict[int, list[str]] = {}
        for row in rows:
            events.setdefault(row["action_id"], []).append(row["event_key"])
        return {action_id: tuple(keys) for action_id, keys in events.items()}

    # actions

    async def list_actions(self, search: str = "", page: int = 1, per_page: int = 50) -> Page[Action]:
        """Actions whose name, description or URL contains `search`, by name; and how many match in all."""
        where = "WHERE name LIKE ?1 ESCAPE '\\' OR description LIKE ?1 ESCAPE '\\' OR url LIKE ?1 ESCAPE '\\'"
        size, offset = page_bounds(page, per_page)
        total = await self._db.count(f"SELECT COUNT(*) FROM actions {where}", (like_pattern(search),))
        rows = await self._db.rows(
            f"SELECT {_ACTION_COLUMNS} FROM actions {where} ORDER BY name COLLATE NOCASE, id LIMIT ?2 OFFSET ?3",
            (like_pattern(search), size, offset),
        )
        return Page([action_from_row(row) for row in rows], total)

    async def all_actions(self) -> list[Action]:
        rows = await self._db.rows(f"SELECT {_ACTION_COLUMNS} FROM actions ORDER BY id")
        return [action_from_row(row) for row in rows]

    async def get_action(self, action_id: int) -> Action:
        row = await self._db.row(f"SELECT {_ACTION_COLUMNS} FROM actions WHERE id = ?", (action_id,))
        if row is None:
            raise NotFound(f"action {action_id} does not exist")
        return action_from_row(row)

    async def create_action(self, action: Action) -> Action:
        """Store a new action (its `id` is ignored); Conflict when the name is taken."""
        return (await self.import_collection([action], ()))[0]

    async def import_collection(
        self, actions: Iterable[Action], parameters: Iterable[Parameter], updates: Iterable[Parameter] = ()
    ) -> list[Action]:
        """Store new custom parameters, new values of existing ones (`updates`) and actions in one transaction.

        All or nothing: a Conflict on any parameter tag (taken, or a system one) or action name rolls back every
        row, so no reader ever sees part of a Postman import. Returns the stored actions.
        """
        ids: list[int] = []
        async with self._db.write() as db:
            for parameter in parameters:
                await _insert_parameter(db, parameter)
            for parameter in updates:
                await db.execute("UPDATE parameters SET value = ?, secret = ? WHERE tag = ?",
                                 (parameter.value, int(parameter.secret), parameter.tag))
            for action in actions:
                ids.append(await _insert_action(db, action))
        return [await self.get_action(action_id) for action_id in ids]

    async def update_action(self, action: Action) -> Action:
        """Replace the stored action with id `action.id`; NotFound / Conflict (name taken)."""
        if action.id is None:
            raise NotFound("action without an id")
        await self._db.change_row(
            "UPDATE actions SET name = ?, description = ?, method = ?, url = ?, timeout_s = ?, parts = ? WHERE id = ?",
            (action.name, action.description, action.method, action.url, action.timeout_s,
             action_parts_to_json(action), action.id),
            missing=f"action {action.id} does not exist", taken=_name_taken(action))
        return await self.get_action(action.id)

    async def delete_action(self, action_id: int) -> None:
        """Delete an action and unbind it from every event; its pending deliveries still go out."""
        await self._db.change_row("DELETE FROM actions WHERE id = ?", (action_id,),
                                  missing=f"action {action_id} does not exist")

    # custom parameters

    async def list_parameters(self) -> list[Parameter]:
        rows = await self._db.rows("SELECT tag, value, secret FROM parameters ORDER BY tag")
        return [_parameter(row) for row in rows]

    async def parameter_values(self) -> dict[str, str]:
        return {p.tag: p.value for p in await self.list_parameters()}

    async def get_parameter(self, tag: str) -> Parameter:
        row = await self._db.row("SELECT tag, value, secret FROM parameters WHERE tag = ?", (tag,))
        if row is None:
            raise NotFound(f"parameter {tag!r} does not exist")
        return _parameter(row)

    async def create_parameter(self, parameter: Parameter) -> Parameter:
        """Conflict when the tag exists or is a system parameter."""
        async with self._db.write() as db:
            await _insert_parameter(db, parameter)
        return parameter

    async def update_parameter(self, parameter: Parameter) -> Parameter:
        await self._db.change_row("UPDATE parameters SET value = ?, secret = ? WHERE tag = ?",
                                  (parameter.value, int(parameter.secret), parameter.tag),
                                  missing=f"parameter {parameter.tag!r} does not exist")
        return parameter

    async def delete_parameter(self, tag: str) -> None:
        await self._db.change_row("DELETE FROM parameters WHERE tag = ?", (tag,),
                                  missing=f"parameter {tag!r} does not exist")

def _name_taken(action: Action) -> str:
    return f"an action named {action.name!r} already exists"


async def _insert_action(db: aiosqlite.Connection, action: Action) -> int:
    try:
        cursor = await db.execute(
            "INSERT INTO actions (name, description, method, url, timeout_s, parts) VALUES (?, ?, ?, ?, ?, ?)",
            (action.name, action.description, action.method, action.url, action.timeout_s,
             action_parts_to_json(action)),
        )
    except sqlite3.IntegrityError as exc:
        raise Conflict(_name_taken(action)) from exc
    return int(cursor.lastrowid or 0)


async def _insert_parameter(db: aiosqlite.Connection, parameter: Parameter) -> None:
    if parameter.tag in ALL_PARAMETERS:
        raise Conflict(f"{parameter.tag!r} is a system parameter")
    try:
        await db.execute("INSERT INTO parameters (tag, value, secret) VALUES (?, ?, ?)",
                         (parameter.tag, parameter.value, int(parameter.secret)))
    except sqlite3.IntegrityError as exc:
        raise Conflict(f"parameter {parameter.tag!r} already exists") from exc
