"""The database schema, one step per PRAGMA user_version. Append steps; never edit a released one."""

from __future__ import annotations

import aiosqlite

from agent.mapping.catalog import EVENTS

_V1 = """
CREATE TABLE events (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    actions_enabled INTEGER NOT NULL DEFAULT 0
);
INSERT INTO settings (id, actions_enabled) VALUES (1, 0);
CREATE TABLE actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    timeout_s REAL,
    parts TEXT NOT NULL
);
CREATE TABLE event_actions (
    event_key TEXT NOT NULL REFERENCES events(key) ON DELETE CASCADE,
    action_id INTEGER NOT NULL REFERENCES actions(id) ON DELETE CASCADE,
    position INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (event_key, action_id)
);
CREATE INDEX event_actions_action ON event_actions(action_id);
CREATE TABLE parameters (
    tag TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    secret INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE rates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    prefix TEXT NOT NULL UNIQUE,
    price_per_minute TEXT NOT NULL,
    connection_fee TEXT NOT NULL DEFAULT '0',
    minimum_s INTEGER NOT NULL DEFAULT 0,
    increment_s INTEGER NOT NULL DEFAULT 1,
    description TEXT NOT NULL DEFAULT ''
);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    event TEXT NOT NULL,
    call_id TEXT NOT NULL,
    action_id INTEGER NOT NULL,
    action_name TEXT NOT NULL,
    request TEXT NOT NULL,
    profile TEXT NOT NULL CHECK (profile IN ('live', 'final')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed', 'expired')),
    created_at REAL NOT NULL,
    done_at REAL
);
CREATE INDEX outbox_pending ON outbox(state, seq);
CREATE INDEX outbox_done ON outbox(done_at);
CREATE TABLE activity (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    action_id INTEGER,
    event TEXT NOT NULL,
    call_id TEXT NOT NULL DEFAULT '',
    attempt INTEGER NOT NULL,
    status INTEGER NOT NULL,
    message TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    date REAL NOT NULL
);
CREATE INDEX activity_date ON activity(date);
"""

# The tracker log (agent/ingest/trackerlog.py): the AMI frames of the calls in progress, in arrival order, so that a
# restarted agent knows what it knew (a callee that answered and hung up is in no CoreShowChannels snapshot).
_V2 = """
CREATE TABLE tracker_log (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL,
    received_at REAL NOT NULL,
    frame BLOB NOT NULL
);
CREATE INDEX tracker_log_call ON tracker_log(call_id);
"""

STEPS: tuple[str, ...] = (_V1, _V2)


async def migrate(db: aiosqlite.Connection) -> int:
    """Bring the schema to the latest version, each step in its own transaction; returns the version."""
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = int(row[0]) if row else 0
    for number, script in enumerate(STEPS[version:], start=version + 1):
        try:
            await db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        except aiosqlite.Error:
            await db.rollback()
            raise
    await _seed_events(db)
    return len(STEPS)


async def _seed_events(db: aiosqlite.Connection) -> None:
    """The five predefined events always exist (new ones appear after an upgrade)."""
    await db.executemany(
        "INSERT OR IGNORE INTO events (key, name, description, active) VALUES (?, ?, ?, 0)",
        [(info.key, info.name, info.description) for info in EVENTS],
    )
    await db.commit()
