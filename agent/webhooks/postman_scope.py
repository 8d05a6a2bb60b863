"""What a Postman collection or folder hands down to its requests: auth, variables, scripts, behaviour. Pure.

Auth: a missing or null `auth` inherits the parent's; `noauth` is explicitly none. Attributes are a list of
`{key, value}` (v2.1) or a map (v2.0); both are read in either version. Variables become custom parameters:
names that are not valid tags are sanitised (`base url` -> `base_url`), a name taken by a system parameter or by
a custom parameter with another value is resolved as postman_clash.py says (by default `postman_<tag>` and
`<tag>_1`), and a folder variable whose name is taken with another value gets `_1`, `_2`; references in the
requests are rewritten to the new name. Scripts: a list of events or a single one, `exec` as lines or text.
Postman dynamic variables: `{{$timestamp}}` -> `{{unix_time}}`, `{{$isoTimestamp}}` -> `{{date}}T{{time}}`; the
others are left as written and reported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field, replace

from agent.store.model import Action, Auth, Body, KeyValue
from agent.webhooks.postman_clash import Resolver
from agent.webhooks.template import is_valid_tag

_REFERENCE_RE = re.compile(r"\{\{([^{}]*)\}\}")
_NOT_TAG_RE = re.compile(r"[^A-Za-z0-9_\-/.]+")
DYNAMIC = {"$timestamp": "{{unix_time}}", "$isoTimestamp": "{{date}}T{{time}}"}


@dataclass(frozen=True, slots=True)
class Variable:
    """A collection, folder or request variable offered as a custom parameter."""

    key: str
    value: str
    secret: bool = False
    original: str = ""


@dataclass(frozen=True, slots=True)
class Scope:
    """The folder path and what it passes to the requests inside it."""

    path: tuple[str, ...] = ()
    auth: object = None
    renames: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    behavior: Mapping[str, object] = field(default_factory=dict)
    skip_reason: str = ""


def stringify(value: object) -> str:
    """A Postman value as text: strings as they are, null as empty, booleans as true/false, others as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def description_text(value: object) -> str:
    """A description given as a string or as `{content, type, version}`."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else ""


def tag_for(name: str) -> str:
    """`name` made into a valid tag (runs of other characters become `_`), or "" when nothing is left."""
    return name if is_valid_tag(name) else _NOT_TAG_RE.sub("_", name).strip("_")


def child_scope(
    parent: Scope, entry: Mapping[str, object], name: str, offered: dict[str, Variable], resolver: Resolver
) -> Scope:
    """The scope of a folder (or of a request's own variables) inside `parent`."""
    auth = entry["auth"] if entry.get("auth") is not None else parent.auth
    renames = offer_variables(entry.get("variable"), parent.renames, offered, resolver)
    where = f"folder '{name}'" if name else "the request"
    notes = (*parent.notes, *script_notes(entry.get("event"), where))
    behavior = entry.get("protocolProfileBehavior")
    merged = {**parent.behavior, **behavior} if isinstance(behavior, dict) else parent.behavior
    path = (*parent.path, name) if name else parent.path
    return Scope(path, auth, renames, notes, merged, parent.skip_reason)


def offer_variables(
    raw: object, renames: Mapping[str, str], offered: dict[str, Variable], resolver: Resolver
) -> dict[str, str]:
    """Add the enabled variables of `raw` to `offered`; the renames in force inside this scope."""
    inner = dict(renames)
    for entry in raw if isinstance(raw, list) else ():
        if not isinstance(entry, dict) or entry.get("disabled") is True:
            continue
        key = stringify(entry.get("key", entry.get("id")))
        value, tag = stringify(entry.get("value")), tag_for(key)
        if not tag:
            continue
        used = resolver.resolve(key, tag, value, offered)
        if used is not None:
            offered.setdefault(used, Variable(used, value, entry.get("type") == "secret", key if used != key else ""))
            tag = used
        if tag == key:
            inner.pop(key, None)
        else:
            inner[key] = tag
    return inner


def _attributes(raw: Mapping[str, object], kind: str) -> dict[str, str]:
    attrs = raw.get(kind)
    if isinstance(attrs, list):
        pairs = (entry for entry in attrs if isinstance(entry, dict))
        return {stringify(entry.get("key")): stringify(entry.get("value")) for entry in pairs}
    if isinstance(attrs, dict):
        return {str(key): stringify(value) for key, value in attrs.items()}
    return {}


def convert_auth(raw: object) -> tuple[Auth, list[str]]:
    """Our auth for a Postman auth object (None: no auth), with a note when something could not be kept."""
    if raw is None:
        return Auth(), []
    kind = raw.get("type") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or not isinstance(kind, str):
        return Auth(), ["the auth settings are not understood; imported without auth"]
    attrs = _attributes(raw, kind)
    if kind == "apikey":
        return _api_key(attrs)
    auth = {
        "noauth": Auth(),
        "basic": Auth("basic", username=attrs.get("username", ""), password=attrs.get("password", "")),
        "bearer": Auth("bearer", token=attrs.get("token", "")),
    }.get(kind)
    if auth is None:
        return Auth(), [f"auth type '{kind}' is not supported; imported without auth"]
    return auth, []


def _api_key(attrs: Mapping[str, str]) -> tuple[Auth, list[str]]:
    key, place = attrs.get("key", "").strip(), attrs.get("in", "header") or "header"
    if not key:
        return Auth(), ["the API key auth has no key name; imported without auth"]
    if place not in ("header", "query"):
        return Auth("api_key", key=key, value=attrs.get("value", "")), [
            f"API key placed in '{place}'; sent as a header"
        ]
    return Auth("api_key", key=key, value=attrs.get("value", ""), place="query" if place == "query" else "header"), []


def script_notes(events: object, where: str) -> list[str]:
    """A note per non-empty pre-request or test script: they cannot run here."""
    notes = []
    for event in events if isinstance(events, list) else [events] if isinstance(events, dict) else ():
        script = event.get("script") if isinstance(event, dict) else None
        lines = script.get("exec") if isinstance(script, dict) else script
        text = "".join(lines) if isinstance(lines, list) and all(isinstance(x, str) for x in lines) else lines
        if text and (not isinstance(text, str) or text.strip()):
            notes.append(f"{where} has a {stringify(event.get('listen')) or 'script'} script; scripts are not run")
    return notes


_BEHAVIOR = {
    "followRedirects": (False, "redirects are never followed"),
    "disableUrlEncoding": (False, "URLs are always percent-encoded"),
    "strictSSL": (True, "TLS certificates are always verified"),
}
# Settings at Postman's own default, or that only matter once a redirect is followed (never, here): no note.
_NO_CHANGE = {
    "followOriginalHttpMethod": False,
    "followAuthorizationHeader": False,
    "removeRefererHeaderOnRedirect": False,
    "disableCookies": False,
    "insecureHTTPParser": False,
}


def behavior_notes(behavior: Mapping[str, object]) -> list[str]:
    """Notes for protocolProfileBehavior settings that differ from what the agent does."""
    notes = []
    for key, value in behavior.items():
        if key == "disableBodyPruning" or value in ({}, [], None, "") or _NO_CHANGE.get(key, ...) == value:
            continue
        expected = _BEHAVIOR.get(key)
        if expected is None:
            notes.append(f"setting {key} is ignored")
        elif value != expected[0]:
            notes.append(f"setting {key} = {stringify(value)} is ignored: {expected[1]}")
    return notes


def rewrite(text: str, renames: Mapping[str, str], notes: list[str], quiet: Container[str] = ()) -> str:
    """Postman `{{references}}` made into our tags: renamed variables, dynamic variables, invalid names.

    A rename of a name in `quiet` (a clashing variable, which has its own note) is not noted again."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name in renames:
            if name not in quiet:
                notes.append(f"{{{{{name}}}}} now refers to parameter {{{{{renames[name]}}}}}")
            return "{{" + renames[name] + "}}"
        if name in DYNAMIC:
            notes.append(f"Postman variable {{{{{name}}}}} became {DYNAMIC[name]}")
            return DYNAMIC[name]
        if name.startswith("$"):
            notes.append(f"Postman dynamic variable {{{{{name}}}}} is not supported; it is sent as written")
            return match.group(0)
        tag = tag_for(name)
        if tag and tag != name:
            notes.append(f"{{{{{name}}}}} is not a valid parameter tag; it became {{{{{tag}}}}}")
            return "{{" + tag + "}}"
        return match.group(0)

    return _REFERENCE_RE.sub(one, text)


def references(text: str) -> list[str]:
    """The names of the `{{references}}` in `text`, in order."""
    return [match.group(1).strip() for match in _REFERENCE_RE.finditer(text)]


def map_texts(action: Action, change: Callable[[str], str]) -> Action:
    """The action with `change` applied to every templated text."""

    def pairs(items: tuple[KeyValue, ...]) -> tuple[KeyValue, ...]:
        return tuple(KeyValue(change(item.key), change(item.value)) for item in items)

    body, auth = action.body, action.auth
    body = Body(body.type, pairs(body.fields), change(body.raw), change(body.content_type))
    auth = Auth(
        auth.type,
        change(auth.key),
        change(auth.value),
        auth.place,
        change(auth.username),
        change(auth.password),
        change(auth.token),
    )
    return replace(
        action, url=change(action.url), query=pairs(action.query), headers=pairs(action.headers), body=body, auth=auth
    )
