"""The admin API's JSON shape of an action (docs/admin-api.md), validated with pydantic at the trust boundary.

Input rules: `name` trimmed, 1..100 characters; `method` one of the five, any case; `url` http(s) with a host
(the host, or the whole `scheme://host` base, may be a `{{tag}}`); a query string typed into the URL is moved,
decoded, into the query list before the explicit entries; the fragment is dropped; rows of a key/value list
with both key and value empty are dropped, other rows need a key; header names are tokens or tags; `timeout_s`
is optional, a number > 0 and <= 300. Types are strict (`"5"` is not a number). Unknown fields are ignored (the
page may send back read-only ones).

Output: the credentials of `auth` (bearer token, basic password, api key value) are shown as the mask of
agent/webhooks/redaction.py, unless they are only a `{{tag}}` (the secret is then the parameter's, masked there);
an update that sends the mask back keeps the stored credential (`unmask_auth`).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from agent.store.model import METHODS, Action, Auth, Body, KeyValue, Method
from agent.store.records import pairs_to_json
from agent.webhooks.request import CONTROL_RE, MASK, split_url_query
from agent.webhooks.target import parse_target
from agent.webhooks.template import TAG_RE

MAX_NAME = 100
MAX_TEXT = 64 * 1024
MAX_ROWS = 200
_LINE_BREAK_RE = re.compile(r"[\r\n\x00]")
_HEADER_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_URL_RE = re.compile(r"(?i)(https?)://([^/?#]*)(.*)", re.DOTALL)
_TAG_PLACEHOLDER = "T"
_HOST_PLACEHOLDER = "1"  # valid as a host label and as a port: what a {{tag}} there stands for at save time

Text = Annotated[str, Field(max_length=MAX_TEXT)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class KeyValueIn(_Model):
    value: Text = ""
    key: Annotated[str, Field(max_length=1000)] = ""

    @field_validator("key")
    @classmethod
    def _needs_key(cls, key: str, info: ValidationInfo) -> str:
        if not key.strip() and info.data.get("value"):
            raise ValueError("a row with a value needs a key")
        return key


class HeaderIn(KeyValueIn):
    @field_validator("key")
    @classmethod
    def _name(cls, key: str) -> str:
        key = key.strip()
        if key and not _HEADER_NAME_RE.fullmatch(TAG_RE.sub(_TAG_PLACEHOLDER, key)):
            raise ValueError("a header name may hold only letters, digits, !#$%&'*+-.^_`|~ and {{tags}}")
        return key

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        if _LINE_BREAK_RE.search(value):
            raise ValueError("a header value cannot contain CR, LF or NUL")
        return value


class NoBody(_Model):
    type: Literal["none"]


class RawBody(_Model):
    type: Literal["raw"]
    content_type: Annotated[str, Field(max_length=200)] = "text/plain"
    raw: Annotated[str, Field(max_length=1024 * 1024)] = ""

    @field_validator("content_type")
    @classmethod
    def _content_type(cls, value: str) -> str:
        if CONTROL_RE.search(value):
            raise ValueError("a content type cannot contain control characters")
        return value.strip()


class FieldsBody(_Model):
    type: Literal["form-data", "x-www-form-urlencoded"]
    fields: Annotated[list[KeyValueIn], Field(max_length=MAX_ROWS)] = []

    @field_validator("fields")
    @classmethod
    def _fields(cls, rows: list[KeyValueIn]) -> list[KeyValueIn]:
        return _rows(rows)


class NoAuth(_Model):
    type: Literal["none"]


class BearerAuth(_Model):
    type: Literal["bearer"]
    token: Text


class BasicAuth(_Model):
    type: Literal["basic"]
    username: Text
    password: Text = ""


class ApiKeyAuth(_Model):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True, populate_by_name=True)

    type: Literal["api_key"]
    key: Annotated[str, Field(min_length=1, max_length=1000)]
    value: Text = ""
    in_: Literal["header", "query"] = Field("header", alias="in")

    @field_validator("key")
    @classmethod
    def _key(cls, key: str) -> str:
        key = key.strip()
        if not key:
            raise ValueError("the api key name cannot be empty")
        return key


BodyIn = Annotated[NoBody | RawBody | FieldsBody, Field(discriminator="type")]
AuthIn = Annotated[NoAuth | BearerAuth | BasicAuth | ApiKeyAuth, Field(discriminator="type")]


def _rows(rows: list[Any]) -> list[Any]:
    """Drop fully blank rows (the page sends its empty last row)."""
    return [row for row in rows if row.key.strip() or row.value]


class ActionIn(_Model):
    """An action as the admin API accepts it."""

    name: str
    description: Annotated[str, Field(max_length=2000)] = ""
    method: str
    url: Annotated[str, Field(max_length=8192)]
    query: Annotated[list[KeyValueIn], Field(max_length=MAX_ROWS)] = []
    headers: Annotated[list[HeaderIn], Field(max_length=MAX_ROWS)] = []
    body: BodyIn = NoBody(type="none")
    auth: AuthIn = NoAuth(type="none")
    timeout_s: Annotated[float, Field(gt=0, le=300)] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        name = name.strip()
        if not name:
            raise ValueError("the name cannot be empty")
        if CONTROL_RE.search(name):
            raise ValueError("the name cannot contain control characters")
        if len(name) > MAX_NAME:
            raise ValueError(f"the name is longer than {MAX_NAME} characters")
        return name

    @field_validator("method")
    @classmethod
    def _method(cls, method: str) -> str:
        upper = method.strip().upper()
        if upper not in METHODS:
            raise ValueError(f"the method must be one of {', '.join(METHODS)}")
        return upper

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return check_url(url)

    @field_validator("query", "headers")
    @classmethod
    def _pairs(cls, rows: list[Any]) -> list[Any]:
        return _rows(rows)


def check_url(url: str) -> str:
    """The trimmed URL if it is http(s) with a host (a `{{tag}}` host, or a URL starting with a tag, is fine)."""
    url = url.strip()
    if CONTROL_RE.search(url):
        raise ValueError("the URL cannot contain control characters")
    if TAG_RE.match(url):
        return url
    match = _URL_RE.fullmatch(TAG_RE.sub(_HOST_PLACEHOLDER, url))
    if match is None:
        raise ValueError("the URL must start with http:// or https://")
    authority = match.group(2)
    host = authority.rpartition("@")[2]
    if not host or host.startswith(":") or re.search(r"\s", host):
        raise ValueError("the URL needs a host (a name, an address or a {{tag}}) without spaces")
    try:
        parse_target(f"{match.group(1).lower()}://{authority}/")
    except ValueError as exc:
        raise ValueError(f"the URL cannot be used: {exc}") from None
    return url


def _pairs_out(rows: list[Any]) -> tuple[KeyValue, ...]:
    return tuple(KeyValue(row.key.strip(), row.value) for row in rows)


def _body(body: NoBody | RawBody | FieldsBody) -> Body:
    if isinstance(body, RawBody):
        return Body("raw", raw=body.raw, content_type=body.content_type)
    if isinstance(body, FieldsBody):
        return Body(body.type, fields=_pairs_out(body.fields))
    return Body()


def _auth(auth: NoAuth | BearerAuth | BasicAuth | ApiKeyAuth) -> Auth:
    if isinstance(auth, BearerAuth):
        return Auth("bearer", token=auth.token)
    if isinstance(auth, BasicAuth):
        return Auth("basic", username=auth.username, password=auth.password)
    if isinstance(auth, ApiKeyAuth):
        return Auth("api_key", key=auth.key, value=auth.value, place=auth.in_)
    return Auth()


def action_from_json(data: object, *, action_id: int | None = None) -> Action:
    """The action described by `data`; raises pydantic's ValidationError naming each invalid field."""
    parsed = ActionIn.model_validate(data)
    base, url_query = split_url_query(parsed.url)
    return Action(
        id=action_id,
        name=parsed.name,
        description=parsed.description,
        method=cast(Method, parsed.method),
        url=base,
        query=(*url_query, *_pairs_out(parsed.query)),
        headers=_pairs_out(parsed.headers),
        body=_body(parsed.body),
        auth=_auth(parsed.auth),
        timeout_s=parsed.timeout_s,
    )


def body_to_json(body: Body) -> dict[str, Any]:
    if body.type == "raw":
        return {"type": "raw", "content_type": body.content_type, "raw": body.raw}
    if body.type in ("form-data", "x-www-form-urlencoded"):
        return {"type": body.type, "fields": pairs_to_json(body.fields)}
    return {"type": "none"}


def shown(credential: str) -> str:
    """A credential as the admin API shows it: the mask, unless it is empty or only a `{{tag}}`."""
    return credential if not credential or TAG_RE.fullmatch(credential.strip()) else MASK


def auth_to_json(auth: Auth, *, mask: bool = True) -> dict[str, Any]:
    """The JSON of `auth`, its credentials masked (`mask=False` only to validate a draft that is not shown)."""
    hide = shown if mask else str
    if auth.type == "bearer":
        return {"type": "bearer", "token": hide(auth.token)}
    if auth.type == "basic":
        return {"type": "basic", "username": auth.username, "password": hide(auth.password)}
    if auth.type == "api_key":
        return {"type": "api_key", "key": auth.key, "value": hide(auth.value), "in": auth.place}
    return {"type": "none"}


class MaskWithoutValue(ValueError):
    """A credential came back as the mask, but there is no stored one of that kind to keep; `field` names it."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{MASK!r} stands for a stored value and there is none here: type the value itself")
        self.field = field


def unmask_auth(auth: Auth, stored: Auth | None) -> Auth:
    """`auth` with each credential sent back as the mask replaced by the stored one (same auth type);
    MaskWithoutValue when there is none to keep (a new action, another auth type)."""
    same = stored if stored is not None and stored.type == auth.type else Auth()

    def kept(name: str, given: str, before: str) -> str:
        if given != MASK:
            return given
        if not before:
            raise MaskWithoutValue(f"auth.{name}")
        return before

    return replace(auth, token=kept("token", auth.token, same.token),
                   password=kept("password", auth.password, same.password),
                   value=kept("value", auth.value, same.value))


def action_to_json(action: Action, *, active_events: int, undefined: list[str], mask: bool = True) -> dict[str, Any]:
    """The JSON of an action as the admin API returns it (docs/admin-api.md), credentials masked."""
    return {
        "id": action.id,
        "name": action.name,
        "description": action.description,
        "method": action.method,
        "url": action.url,
        "query": pairs_to_json(action.query),
        "headers": pairs_to_json(action.headers),
        "body": body_to_json(action.body),
        "auth": auth_to_json(action.auth, mask=mask),
        "timeout_s": action.timeout_s,
        "active_events": active_events,
        "undefined_parameters": list(undefined),
    }


_UNION_TAGS = {
    "body": {"none", "raw", "form-data", "x-www-form-urlencoded"},
    "auth": {"none", "bearer", "basic", "api_key"},
}


def _field(loc: tuple[int | str, ...]) -> str:
    parts = [str(part) for part in loc]
    if len(parts) > 1 and parts[1] in _UNION_TAGS.get(parts[0], ()):
        del parts[1]
    return ".".join(parts)


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    """`[{"field": "body.raw", "message": "..."}]`: dotted paths without pydantic's union tags.

    The admin API reports every validation error (actions and the other request bodies) through this.
    """
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        message = error["msg"].removeprefix("Value error, ")
        details.append({"field": _field(error["loc"]), "message": message})
    return details
