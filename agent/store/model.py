"""Core data of actions and parameters (docs/actions.md). Frozen; validated at the API boundary elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
BodyType = Literal["none", "form-data", "x-www-form-urlencoded", "raw"]
AuthType = Literal["none", "api_key", "basic", "bearer"]
ApiKeyPlace = Literal["header", "query"]

METHODS: tuple[Method, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")
BODY_TYPES: tuple[BodyType, ...] = ("none", "form-data", "x-www-form-urlencoded", "raw")
AUTH_TYPES: tuple[AuthType, ...] = ("none", "api_key", "basic", "bearer")


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Body:
    """`fields` for form-data / x-www-form-urlencoded; `raw` and `content_type` for raw."""

    type: BodyType = "none"
    fields: tuple[KeyValue, ...] = ()
    raw: str = ""
    content_type: str = ""


@dataclass(frozen=True, slots=True)
class Auth:
    """`key`/`value`/`place` for api_key; `username`/`password` for basic; `token` for bearer."""

    type: AuthType = "none"
    key: str = ""
    value: str = ""
    place: ApiKeyPlace = "header"
    username: str = ""
    password: str = ""
    token: str = ""


@dataclass(frozen=True, slots=True)
class Action:
    """An HTTP request an administrator defined. `id` is None until stored."""

    name: str
    method: Method
    url: str
    id: int | None = None
    description: str = ""
    query: tuple[KeyValue, ...] = ()
    headers: tuple[KeyValue, ...] = ()
    body: Body = field(default_factory=Body)
    auth: Auth = field(default_factory=Auth)
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class Parameter:
    """A custom parameter: `{{tag}}` is replaced by `value` when a request is built."""

    tag: str
    value: str
    secret: bool = False


@dataclass(frozen=True, slots=True)
class RenderedRequest:
    """A request ready to send: everything substituted and encoded. Stored in the outbox as is.

    `secrets` are the secret values it carries, to redact from every text about it (docs/security.md); they are
    not part of what is sent, so they take no part in equality and never show in a repr.
    """

    method: Method
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    timeout_s: float | None = None
    secrets: tuple[str, ...] = field(default=(), compare=False, repr=False)
