"""What the store returns and takes: frozen records, and the JSON codecs of actions and rendered requests.

No SQL here (that is the table groups behind agent/store/facade.py); these are plain data shared by the store,
the sender and the admin API.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Generic, Literal, NamedTuple, TypeVar, cast

from agent.store.model import Action, Auth, Body, KeyValue, Method, RenderedRequest

Profile = Literal["live", "final"]
OutboxState = Literal["pending", "delivered", "failed", "expired"]
MAX_PER_PAGE = 500  # the most rows one page of a list holds (the admin API refuses a larger `per_page`)

T = TypeVar("T")


class StoreError(Exception):
    """Base of the errors the admin API maps to status codes."""


class NotFound(StoreError):
    """The addressed row does not exist (404)."""


class Conflict(StoreError):
    """The write would break a uniqueness rule or touch something read-only (409)."""


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A predefined system event: its bindings and whether it is active."""

    key: str
    name: str
    description: str
    active: bool
    action_ids: tuple[int, ...]


class Page(NamedTuple, Generic[T]):
    """One page of a search: its rows, and how many rows match in all. Unpacks as `items, total = page`."""

    items: list[T]
    total: int


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """The settings kept in the database: the global switch of actions."""

    actions_enabled: bool


@dataclass(frozen=True, slots=True)
class RateRow:
    """A stored call rate: numbers starting with `prefix` cost `connection_fee` + `price_per_minute` (decimal
    strings; agent/mapping/rating.py's `Rate` is the same rate with numbers, as the rating uses it)."""

    prefix: str
    price_per_minute: str
    connection_fee: str = "0"
    minimum_s: int = 0
    increment_s: int = 1
    description: str = ""
    id: int | None = None


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """One outbox row to enqueue: a rendered request for one (system event, action)."""

    event_id: str
    event: str
    call_id: str
    action_id: int
    action_name: str
    request: RenderedRequest
    profile: Profile
    next_attempt_at: float
    expires_at: float
    created_at: float


@dataclass(frozen=True, slots=True)
class Delivery:
    """A stored outbox row. `seq` orders the rows of one (call_id, action_id) in emission order."""

    id: int
    seq: int
    event_id: str
    event: str
    call_id: str
    action_id: int
    action_name: str
    request: RenderedRequest
    profile: Profile
    attempts: int
    next_attempt_at: float
    expires_at: float
    state: OutboxState
    created_at: float


@dataclass(frozen=True, slots=True)
class NewActivity:
    """One delivery attempt (or a Save & Test), as recorded in the activity log."""

    action: str
    action_id: int | None
    event: str
    call_id: str
    attempt: int
    status: int
    message: str
    duration_ms: float
    date: float


@dataclass(frozen=True, slots=True)
class Activity:
    """A stored activity row (NewActivity with its id)."""

    id: int
    action: str
    action_id: int | None
    event: str
    call_id: str
    attempt: int
    status: int
    message: str
    duration_ms: float
    date: float


class LogFrame(NamedTuple):
    """One row of the tracker log: an AMI frame as received, filed under its call group's tag.

    A tuple, so that the tracker log's stream of operations tells frames from its other records by type alone."""

    call_id: str
    received_at: float
    frame: bytes


def pairs_to_json(pairs: tuple[KeyValue, ...]) -> list[dict[str, str]]:
    return [{"key": kv.key, "value": kv.value} for kv in pairs]


def pairs_from_json(items: list[dict[str, str]]) -> tuple[KeyValue, ...]:
    return tuple(KeyValue(str(item["key"]), str(item["value"])) for item in items)


def action_parts_to_json(action: Action) -> str:
    """The structured parts of an action (query, headers, body, auth) as one JSON document."""
    body, auth = action.body, action.auth
    doc = {
        "query": pairs_to_json(action.query),
        "headers": pairs_to_json(action.headers),
        "body": {"type": body.type, "fields": pairs_to_json(body.fields), "raw": body.raw,
                 "content_type": body.content_type},
        "auth": {"type": auth.type, "key": auth.key, "value": auth.value, "place": auth.place,
                 "username": auth.username, "password": auth.password, "token": auth.token},
    }
    return json.dumps(doc, ensure_ascii=False)


def action_from_row(row: Any) -> Action:
    """An Action from a stored row (id, name, description, method, url, timeout_s, parts)."""
    doc = json.loads(row["parts"])
    body, auth = doc["body"], doc["auth"]
    return Action(
        id=int(row["id"]),
        name=row["name"],
        description=row["description"],
        method=cast(Method, row["method"]),
        url=row["url"],
        timeout_s=row["timeout_s"],
        query=pairs_from_json(doc["query"]),
        headers=pairs_from_json(doc["headers"]),
        body=Body(type=body["type"], fields=pairs_from_json(body["fields"]), raw=body["raw"],
                  content_type=body["content_type"]),
        auth=Auth(type=auth["type"], key=auth["key"], value=auth["value"], place=auth["place"],
                  username=auth["username"], password=auth["password"], token=auth["token"]),
    )


def delivery_from_row(row: Any) -> Delivery:
    """A Delivery from a stored outbox row (columns by name)."""
    return Delivery(
        id=row["id"], seq=row["seq"], event_id=row["event_id"], event=row["event"], call_id=row["call_id"],
        action_id=row["action_id"], action_name=row["action_name"], request=request_from_json(row["request"]),
        profile=row["profile"], attempts=row["attempts"], next_attempt_at=row["next_attempt_at"],
        expires_at=row["expires_at"], state=row["state"], created_at=row["created_at"],
    )


def request_to_json(request: RenderedRequest) -> str:
    return json.dumps({
        "method": request.method,
        "url": request.url,
        "headers": [list(pair) for pair in request.headers],
        "body": base64.b64encode(request.body).decode("ascii"),
        "timeout_s": request.timeout_s,
        "secrets": list(request.secrets),
    })


def request_from_json(text: str) -> RenderedRequest:
    doc = json.loads(text)
    return RenderedRequest(
        method=doc["method"],
        url=doc["url"],
        headers=tuple((str(k), str(v)) for k, v in doc["headers"]),
        body=base64.b64decode(doc["body"]),
        timeout_s=doc["timeout_s"],
        secrets=tuple(doc.get("secrets", ())),
    )
