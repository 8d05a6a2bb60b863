"""Postman collection v2.0 / v2.1 import: reading the file and previewing the actions it would create. Pure.

`load_collection(bytes)` parses the JSON under size and nesting limits; `preview(collection, existing_names)`
walks the folders (any depth, names flattened as `Folder / Sub / Request`) and reports per request:
`importable` (kept as is), `changed` (imported, with notes on what differs) or `skipped` (with the reason).
Every importable or changed item carries the Action it would create, validated by the same rules as the admin
API. Collection, folder and request variables are offered as custom parameters (see postman_scope.py).
Whole-file problems raise PostmanError with a plain message. The checklist is reference/postman-import.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

from pydantic import ValidationError

from agent.store.model import METHODS, Action, Parameter
from agent.webhooks.postman_clash import Clash, Resolver
from agent.webhooks.postman_request import convert_body, convert_headers, convert_url, encoding_notes
from agent.webhooks.postman_scope import (
    Scope,
    Variable,
    behavior_notes,
    child_scope,
    convert_auth,
    description_text,
    map_texts,
    offer_variables,
    references,
    rewrite,
    script_notes,
    stringify,
)
from agent.webhooks.request import display_url
from agent.webhooks.schema import MAX_NAME, action_from_json, action_to_json, validation_details

MAX_BYTES = 10 * 1024 * 1024
MAX_JSON_DEPTH = 256
MAX_FOLDER_DEPTH = 50
MAX_REQUESTS = 2000
MAX_DESCRIPTION = 2000
_VERSION_RE = re.compile(r"/v2\.([01])\.\d+/")
_V1_RE = re.compile(r"/v1\.\d+\.\d+/")
Status = Literal["importable", "changed", "skipped"]


class PostmanError(Exception):
    """The whole file cannot be imported; the message says why in plain words."""


@dataclass(frozen=True, slots=True)
class PreviewItem:
    """One request of the collection, in depth-first order (`index` counts every request, skipped too)."""

    index: int
    name: str
    method: str
    url: str
    status: Status
    notes: tuple[str, ...]
    folder: str = ""
    action: Action | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "notes": list(self.notes),
            "folder": self.folder,
        }


@dataclass(frozen=True, slots=True)
class Preview:
    """What an import would create: the requests and the variables offered as custom parameters."""

    name: str
    version: str
    items: tuple[PreviewItem, ...]
    variables: tuple[Variable, ...]
    notes: tuple[str, ...] = ()
    clashes: tuple[Clash, ...] = ()

    def to_json(self) -> dict[str, Any]:
        variables = [{"key": v.key, "value": v.value, "secret": v.secret} for v in self.variables]
        return {"items": [item.to_json() for item in self.items], "variables": variables, "notes": list(self.notes),
                "clashes": [clash.to_json() for clash in self.clashes]}


def _depth(document: object) -> int:
    deepest, stack = 0, [(document, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def load_collection(data: bytes, limit: int = MAX_BYTES) -> object:
    """The JSON document of an uploaded file; PostmanError for too large, not UTF-8, invalid or too deep."""
    if len(data) > limit:
        raise PostmanError(f"the file is larger than {limit // (1024 * 1024)} MiB")
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise PostmanError(f"the file is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise PostmanError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise PostmanError(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels") from None
    if _depth(document) > MAX_JSON_DEPTH:
        raise PostmanError(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels")
    return document


def detect_version(collection: object) -> str:
    """`2.0` or `2.1` from `info.schema`; PostmanError for v1, environments, unknown schemas, bad structure."""
    if not isinstance(collection, dict):
        raise PostmanError("not a Postman collection: the file must hold a JSON object")
    info = collection.get("info")
    if not isinstance(info, dict):
        if any(key in collection for key in ("requests", "order", "folders")):
            raise PostmanError("Postman collection format v1 is not supported: export it from Postman as v2.1")
        if "values" in collection:
            raise PostmanError("this is a Postman environment, not a collection")
        raise PostmanError("not a Postman collection: 'info' is missing")
    schema = info.get("schema")
    if not isinstance(schema, str):
        raise PostmanError("not a Postman collection: 'info.schema' is missing")
    if _V1_RE.search(schema):
        raise PostmanError("Postman collection format v1 is not supported: export it from Postman as v2.1")
    version = _VERSION_RE.search(schema)
    if version is None:
        raise PostmanError(f"unknown collection schema {schema!r}: only v2.0 and v2.1 are supported")
    if not isinstance(info.get("name"), str) or not isinstance(collection.get("item"), list):
        raise PostmanError("not a Postman collection: 'info.name' and an 'item' list are required")
    return f"2.{version.group(1)}"


def _unique(name: str, taken: set[str], first: int) -> tuple[str, int]:
    """`name` or `name_N` with the smallest N >= `first` not taken (cut to the limit), and that N."""
    candidate, number = name[:MAX_NAME], 0
    while candidate.casefold() in taken:
        number = max(number + 1, first)
        suffix = f"_{number}"
        candidate = name[: MAX_NAME - len(suffix)] + suffix
    return candidate, number


def _action_name(path: tuple[str, ...], own: str) -> tuple[str, list[str]]:
    """`Folder / Sub / Request` within the name limit: leading folders give way first, then the request's name."""
    name = " / ".join((*path, own))
    if len(name) <= MAX_NAME:
        return name, []
    for start in range(1, len(path) + 1):
        shorter = " / ".join(("…", *path[start:], own))
        if len(shorter) <= MAX_NAME:
            return shorter, [f"the folder path is shortened to fit the name in {MAX_NAME} characters"]
    if path and len(own) <= MAX_NAME:
        return own, [f"the folder path is left out to fit the name in {MAX_NAME} characters"]
    return own[:MAX_NAME], [f"the name is cut to {MAX_NAME} characters"]


@dataclass
class _Walk:
    """The accumulators of one preview: items so far, names taken, variables offered, clashes resolved."""

    taken: set[str]
    resolver: Resolver
    items: list[PreviewItem] = field(default_factory=list)
    offered: dict[str, Variable] = field(default_factory=dict)
    suffixes: dict[str, int] = field(default_factory=dict)

    def folder(self, entries: list[object], scope: Scope, depth: int) -> None:
        if depth > MAX_FOLDER_DEPTH:
            raise PostmanError(f"folders are nested deeper than {MAX_FOLDER_DEPTH} levels")
        for entry in entries:
            if isinstance(entry, dict) and "request" not in entry and isinstance(entry.get("item"), list):
                self.subfolder(entry, scope, depth)
            else:
                self.request(entry, scope)

    def subfolder(self, entry: Mapping[str, Any], scope: Scope, depth: int) -> None:
        name = stringify(entry.get("name")).strip() or "Untitled"
        inner = child_scope(scope, entry, name, self.offered, self.resolver)
        if entry.get("disabled") is True and not inner.skip_reason:
            inner = replace(inner, skip_reason=f"folder '{name}' is disabled")
        self.folder(entry["item"], inner, depth + 1)

    def request(self, entry: object, scope: Scope) -> None:
        if len(self.items) >= MAX_REQUESTS:
            raise PostmanError(f"the collection has more than {MAX_REQUESTS} requests")
        item = entry if isinstance(entry, dict) else {}
        name, name_notes = _action_name(scope.path, stringify(item.get("name")).strip() or "Untitled")
        if not isinstance(entry, dict):
            reason = "the item is not an object"
            self.items.append(PreviewItem(len(self.items), name, "", "", "skipped", (reason,), " / ".join(scope.path)))
            return
        reason = scope.skip_reason or ("the item is disabled" if item.get("disabled") is True else "")
        inner = child_scope(scope, item, "", self.offered, self.resolver)
        self.items.append(self.convert(name, item, inner, reason, name_notes))

    def convert(self, name: str, item: Mapping[str, Any], scope: Scope, reason: str, named: list[str]) -> PreviewItem:
        raw = item.get("request")
        request: Mapping[str, Any] = {"url": raw} if isinstance(raw, str) else raw if isinstance(raw, dict) else {}
        notes = _request_notes(request, scope)
        draft, used = _draft(name, request, scope, notes, self.resolver)
        method, url = _method(request), display_url(draft)
        skipped = PreviewItem(len(self.items), name, method, url, "skipped", (), " / ".join(scope.path))
        if reason or not request:
            return replace(skipped, notes=(reason or "the item has no request",))
        if method not in METHODS:
            return replace(skipped, notes=(f"method {method or '?'} is not supported",))
        final, number = _unique(name, self.taken, self.suffixes.get(name.casefold(), 0))
        try:
            draft_json = action_to_json(draft, active_events=0, undefined=[], mask=False)
            action = action_from_json(draft_json | {"name": final})
        except ValidationError as exc:
            return replace(skipped, notes=tuple(f"{d['field']}: {d['message']}" for d in validation_details(exc)))
        self.taken.add(final.casefold())
        self.suffixes[name.casefold()] = number
        clashing = [self.resolver.clashes[key].note for key in used if key in self.resolver.clashes]
        notes = [*clashing, *notes, *named, *encoding_notes(action.query)]
        if final != name:
            notes.append(f"renamed to '{final}': the name is taken")
        action = replace(action, description=_description(item, request, action, notes))
        unique = tuple(dict.fromkeys(notes))
        return replace(skipped, name=final, status="changed" if unique else "importable", notes=unique, action=action)


def _method(request: Mapping[str, Any]) -> str:
    method = request.get("method")
    if method is None:
        return "GET"
    return (method.strip().upper() or "GET") if isinstance(method, str) else ""


def _draft(
    name: str, request: Mapping[str, Any], scope: Scope, notes: list[str], resolver: Resolver
) -> tuple[Action, list[str]]:
    """The action as written (references rewritten) and the variable names it uses, in order."""
    base, query = convert_url(request.get("url"), notes)
    headers = convert_headers(request.get("header"), notes)
    behavior = {**scope.behavior, **_mapping(request.get("protocolProfileBehavior"))}
    method = _method(request)
    keep = behavior.get("disableBodyPruning") is True
    body, headers = convert_body(request.get("body"), headers, notes, method, keep)
    auth, auth_notes = convert_auth(request["auth"] if request.get("auth") is not None else scope.auth)
    notes.extend(auth_notes)
    action = Action(name=name, method=method, url=base, query=query, headers=headers, body=body, auth=auth)  # type: ignore[arg-type]
    used: list[str] = []

    def collect(text: str) -> str:
        used.extend(references(text))
        return text

    map_texts(action, collect)
    rewritten = map_texts(action, lambda text: rewrite(text, scope.renames, notes, resolver.clashes))
    return rewritten, list(dict.fromkeys(used))


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else {}


def _description(item: Mapping[str, Any], request: Mapping[str, Any], action: Action, notes: list[str]) -> str:
    text = description_text(request.get("description")) or description_text(item.get("description"))
    if len(text) > MAX_DESCRIPTION:
        notes.append(f"the description is cut to {MAX_DESCRIPTION} characters")
    return text[:MAX_DESCRIPTION] or f"{action.method} {display_url(action)}"


def _request_notes(request: Mapping[str, Any], scope: Scope) -> list[str]:
    notes = [*scope.notes, *behavior_notes({**scope.behavior, **_mapping(request.get("protocolProfileBehavior"))})]
    notes += [f"the request's {key} setting is ignored" for key in ("proxy", "certificate") if request.get(key)]
    return notes


def preview(
    collection: object,
    existing_names: Collection[str],
    parameters: Mapping[str, Parameter] | None = None,
    choices: Mapping[str, str] | None = None,
) -> Preview:
    """The per-request report of a collection; existing action names are avoided (`_1`, `_2` suffixes).

    `parameters` are the existing custom parameters by tag and `choices` what to do with each clashing variable
    (see postman_clash.py); variables that feed an auth (a token, a password, an API key value, an
    Authorization header) are offered as secret.
    """
    version = detect_version(collection)
    document = cast(dict[str, Any], collection)
    walk = _Walk({name.casefold() for name in existing_names}, Resolver(parameters or {}, choices or {}))
    renames = offer_variables(document.get("variable"), {}, walk.offered, walk.resolver)
    behavior = document.get("protocolProfileBehavior")
    notes = tuple(script_notes(document.get("event"), "the collection"))
    root = Scope((), document.get("auth"), renames, notes, behavior if isinstance(behavior, dict) else {})
    walk.folder(document["item"], root, 0)
    name = stringify(document["info"].get("name"))
    secret = {tag for item in walk.items if item.action for tag in _auth_tags(item.action)}
    variables = tuple(replace(v, secret=v.secret or v.key in secret) for v in walk.offered.values())
    secret |= {v.key for v in variables if v.secret}
    clashes = tuple(replace(c, secret=c.used_tag in secret) for c in walk.resolver.clashes.values())
    renamed = tuple(_rename_note(v) for v in variables if v.original)
    return Preview(name, version, tuple(walk.items), variables, notes + renamed, clashes)


def _auth_tags(action: Action) -> set[str]:
    """The tags an action's auth credentials and Authorization header are made of."""
    auth = action.auth
    texts = [auth.token, auth.password, auth.value if auth.type == "api_key" else ""]
    texts += [header.value for header in action.headers if header.key.strip().lower() == "authorization"]
    return {tag for text in texts for tag in references(text)}


def _rename_note(variable: Variable) -> str:
    return f"variable '{variable.original}' is offered as parameter '{variable.key}'"
