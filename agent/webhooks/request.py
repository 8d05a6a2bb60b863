"""Building the HTTP request of an action from parameter values (docs/actions.md). Pure: no I/O, never raises.

Encoding rules (docs/actions.md, "How a request is built"):
- Who controls a value decides how far it reaches (docs/security.md, "Hostile input"): a system parameter
  (`calling_name`, `caller_id`, ...: what the PBX, a caller or a carrier says) stays inside its place, while a
  custom parameter an administrator defined may carry a sub-path or a whole base URL.
- URL scheme and host (everything before the first `/` after `scheme://`): custom values substituted as they
  are, minus whitespace and control characters, so `{{IP}}` may carry `host:port` and `{{baseUrl}}` a whole base;
  system values keep only letters, digits, `-`, `_` and `.`.
- URL path: a custom value is percent-encoded except `/` and the RFC 3986 sub-delimiters, so it may carry a
  sub-path (`{{prefix}}` = `api/v2`); a system value is exactly one path segment (`/`, `?`, `#` and `%`
  percent-encoded, a bare `.` or `..` as `%2E`). Literal path text is kept, with unsafe characters
  percent-encoded.
- Query (a query string left in the URL, then the query list, then an api_key in the query): keys and values
  are percent-encoded after substitution (`%20` for space). An entry whose value is empty as written is a flag
  (`?debug`); a value that becomes empty after substitution gives `key=`. The fragment is dropped.
- Headers: substituted; names keep only token characters (a header whose name ends up empty is dropped);
  control characters (CR, LF, ...) in values become a space and the value is trimmed.
- Auth header (basic, bearer, api_key in header) replaces explicit headers of the same name.
- Raw body: a JSON content type (`application/json`, `text/json`, `*/*+json`) JSON-string-escapes each value;
  other types substitute plainly. Content-Type is the raw content type (default `text/plain`) unless a
  Content-Type header is given. x-www-form-urlencoded: `+` for space, explicit Content-Type wins.
  form-data: multipart with a boundary derived from the SHA-256 of the parts, so the same values always give
  the same bytes; its Content-Type always carries that boundary and replaces an explicit one.
- Values with lone surrogates are made valid text (U+FFFD) first.
- The request carries its secrets (`RenderedRequest.secrets`: the values of the secret parameters it uses and
  its credentials), so that every text shown about it can be redacted (agent/webhooks/redaction.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Collection, Mapping
from urllib.parse import quote, quote_plus, unquote_plus

from agent.mapping.catalog import ALL_PARAMETERS
from agent.store.model import Action, Auth, Body, KeyValue, RenderedRequest
from agent.webhooks.template import TAG_RE, substitute, tags_used

Header = tuple[str, str]
SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")  # `scheme://` at the start of a URL
# Characters that have no place inside a one-line value (a name, a URL, a header): the C0 and C1 controls and DEL
# (CR, LF, TAB, NUL, NEL among them) and the Unicode line and paragraph separators. Validation refuses them in
# what an administrator saves; rendering turns each run of them in a substituted value into one space.
_CONTROL_CHARS = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
CONTROL_RE = re.compile(f"[{_CONTROL_CHARS}]+")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_HOST_JUNK_RE = re.compile(rf"[\s{_CONTROL_CHARS}]+")
_NOT_TOKEN_RE = re.compile(r"[^!#$%&'*+\-.^_`|~0-9A-Za-z]+")
PATH_SAFE = "/:@!$&'()*+,;="
_PATH_LITERAL_SAFE = PATH_SAFE + "%"
_SEGMENT_SAFE = ":@!$&'()*+,;="
_NOT_HOST_RE = re.compile(r"[^A-Za-z0-9._\-]+")
SYSTEM_TAGS = frozenset(ALL_PARAMETERS)  # values the PBX, a caller or a carrier controls


def clean_text(text: str) -> str:
    """`text` with lone surrogates replaced, so it always encodes to UTF-8."""
    return text if text.isascii() else _SURROGATE_RE.sub("\ufffd", text)


def split_url_query(url: str) -> tuple[str, tuple[KeyValue, ...]]:
    """Split a (templated) URL into its base and its decoded query entries; the fragment is dropped."""
    base, _, query = url.split("#", 1)[0].partition("?")
    entries = []
    for piece in query.split("&"):
        key, _, value = piece.partition("=")
        if key or value:
            entries.append(KeyValue(unquote_plus(key), unquote_plus(value)))
    return base, tuple(entries)


def display_url(action: Action) -> str:
    """The URL with the query list after `?`, unencoded and unsubstituted, as people read it."""
    query = "&".join(f"{kv.key}={kv.value}" if kv.value else kv.key for kv in action.query)
    return action.url + (f"?{query}" if query else "")


def is_json_type(content_type: str) -> bool:
    """True for application/json, text/json and any `+json` media type."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media in {"application/json", "text/json"} or media.endswith("+json")


def json_escape(value: str) -> str:
    """`value` escaped to sit inside a JSON string literal."""
    return json.dumps(value, ensure_ascii=False)[1:-1]


def header_name(name: str) -> str:
    """Only the token characters of `name`."""
    return _NOT_TOKEN_RE.sub("", name)


def header_value(value: str) -> str:
    """`value` with each run of control characters turned into a space, trimmed."""
    return CONTROL_RE.sub(" ", value).strip()


def _sub(text: str, values: Mapping[str, str], escape: Callable[[str], str] | None = None) -> str:
    return substitute(clean_text(text), values, escape)


def split_authority(url: str) -> tuple[str, str]:
    """`scheme://host` and the path, splitting at the first `/` that is not inside a tag."""
    scheme = SCHEME_RE.match(url)
    start = scheme.end() if scheme else 0
    position = start
    for match in TAG_RE.finditer(url, start):
        slash = url.find("/", position, match.start())
        if slash >= 0:
            return url[:slash], url[slash:]
        position = match.end()
    slash = url.find("/", position)
    return (url, "") if slash < 0 else (url[:slash], url[slash:])


def path_segment(value: str) -> str:
    """`value` as exactly one path segment: `/`, `?`, `#`, `%` encoded, a bare `.` or `..` as `%2E`."""
    encoded = quote(value, safe=_SEGMENT_SAFE)
    return encoded.replace(".", "%2E") if encoded in {".", ".."} else encoded


def _path_value(tag: str, values: Mapping[str, str]) -> str:
    value = values.get(tag, "")
    return path_segment(value) if tag in SYSTEM_TAGS else quote(value, safe=PATH_SAFE)


def _path(template: str, values: Mapping[str, str]) -> str:
    pieces, position = [], 0
    for match in TAG_RE.finditer(template):
        pieces.append(quote(template[position : match.start()], safe=_PATH_LITERAL_SAFE))
        pieces.append(_path_value(match.group(1), values))
        position = match.end()
    pieces.append(quote(template[position:], safe=_PATH_LITERAL_SAFE))
    return "".join(pieces)


def _authority(template: str, values: Mapping[str, str]) -> str:
    """`scheme://host` substituted: a system value cannot reach past the host name it sits in."""

    def one(match: re.Match[str]) -> str:
        tag = match.group(1)
        value = values.get(tag, "")
        return _NOT_HOST_RE.sub("", value) if tag in SYSTEM_TAGS else value

    return _HOST_JUNK_RE.sub("", TAG_RE.sub(one, template))


def _query_pair(entry: KeyValue, values: Mapping[str, str]) -> str:
    key = quote(_sub(entry.key, values), safe="")
    if entry.value == "":
        return key
    return f"{key}={quote(_sub(entry.value, values), safe='')}"


def _render_url(action: Action, values: Mapping[str, str]) -> str:
    """The full encoded URL of an action (query string, query list, then an api_key placed in the query)."""
    base, url_query = split_url_query(CONTROL_RE.sub("", clean_text(action.url)))
    authority, path = split_authority(base)
    host = _authority(authority, values)
    entries = (*url_query, *action.query, *_auth_query(action.auth))
    query = "&".join(_query_pair(entry, values) for entry in entries)
    return host + _path(path, values) + (f"?{query}" if query else "")


def _auth_query(auth: Auth) -> tuple[KeyValue, ...]:
    if auth.type == "api_key" and auth.place == "query" and auth.key:
        return (KeyValue(auth.key, auth.value),)
    return ()


def _basic(auth: Auth, values: Mapping[str, str]) -> str:
    """The base64 of `username:password`, as the Authorization header carries it."""
    pair = f"{_sub(auth.username, values)}:{_sub(auth.password, values)}".encode()
    return base64.b64encode(pair).decode("ascii")


def _auth_header(auth: Auth, values: Mapping[str, str]) -> Header | None:
    if auth.type == "basic":
        return "Authorization", "Basic " + _basic(auth, values)
    if auth.type == "bearer":
        return "Authorization", "Bearer " + _sub(auth.token, values)
    if auth.type == "api_key" and auth.place == "header":
        return _sub(auth.key, values), _sub(auth.value, values)
    return None


def _clean_header(name: str, value: str) -> Header:
    return header_name(name), header_value(value)


def _render_headers(action: Action, values: Mapping[str, str]) -> list[Header]:
    """Explicit headers then the auth header, substituted and cleaned; auth replaces a same-named header."""
    headers = [_clean_header(_sub(h.key, values), _sub(h.value, values)) for h in action.headers]
    auth = _auth_header(action.auth, values)
    if auth is not None:
        auth = _clean_header(*auth)
        headers = [h for h in headers if h[0].lower() != auth[0].lower()]
        headers.append(auth)
    return [h for h in headers if h[0]]


def _urlencoded(fields: tuple[KeyValue, ...], values: Mapping[str, str]) -> bytes:
    pairs = (f"{_form(f.key, values)}={_form(f.value, values)}" for f in fields)
    return "&".join(pairs).encode("ascii")


def _form(text: str, values: Mapping[str, str]) -> str:
    return quote_plus(_sub(text, values), safe="")


def _part_name(name: str) -> str:
    return name.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


def _multipart(fields: list[Header]) -> tuple[bytes, str]:
    """A multipart/form-data body of text parts and its boundary, derived from the parts' content."""
    parts = [
        f'Content-Disposition: form-data; name="{_part_name(key)}"\r\n\r\n{value}'.encode() for key, value in fields
    ]
    salt = 0
    while True:
        digest = hashlib.sha256(b"\0".join(parts) + str(salt).encode()).hexdigest()[:32]
        boundary = f"eventagent-{digest}"
        if not any(boundary.encode() in part for part in parts):
            break
        salt += 1
    dash = b"--" + boundary.encode()
    body = b"".join(dash + b"\r\n" + part + b"\r\n" for part in parts) + dash + b"--\r\n"
    return body, boundary


def _render_body(body: Body, values: Mapping[str, str]) -> tuple[bytes, str | None, bool]:
    """The body bytes, the Content-Type it implies, and whether that type must replace an explicit one."""
    if body.type == "raw":
        content_type = header_value(_sub(body.content_type, values)) or "text/plain"
        escape = json_escape if is_json_type(content_type) else None
        return _sub(body.raw, values, escape).encode(), content_type, False
    if body.type == "x-www-form-urlencoded":
        return _urlencoded(body.fields, values), "application/x-www-form-urlencoded", False
    if body.type == "form-data":
        data, boundary = _multipart([(_sub(f.key, values), _sub(f.value, values)) for f in body.fields])
        return data, f"multipart/form-data; boundary={boundary}", True
    return b"", None, False


def render(action: Action, values: Mapping[str, str], secret_tags: Collection[str] = ()) -> RenderedRequest:
    """The request an action sends with these parameter values (undefined tags become empty); it carries the
    values of the `secret_tags` it uses and its credentials as its secrets."""
    clean = {tag: clean_text(value) for tag, value in values.items()}
    headers = _render_headers(action, clean)
    data, content_type, force = _render_body(action.body, clean)
    if content_type is not None:
        explicit = any(name.lower() == "content-type" for name, _ in headers)
        if force or not explicit:
            headers = [h for h in headers if h[0].lower() != "content-type"]
            headers.append(("Content-Type", content_type))
    return RenderedRequest(action.method, _render_url(action, clean), tuple(headers), data, action.timeout_s,
                           secrets=carried_secrets(action, clean, secret_tags))


# a secret as people are shown it: dry runs, parameters and credentials in the admin API, redacted texts
MASK = "********"


def auth_secrets(action: Action, values: Mapping[str, str]) -> set[str]:
    """The substituted credentials of an action: bearer token, basic password and the base64 of the pair, api
    key value."""
    auth = action.auth
    texts = {"bearer": (auth.token,), "basic": (auth.password,), "api_key": (auth.value,)}.get(auth.type, ())
    found = {secret for text in texts if (secret := _sub(text, values))}
    if auth.type == "basic" and found:
        found.add(_basic(auth, values))
    return found


def carried_secrets(action: Action, values: Mapping[str, str], secret_tags: Collection[str]) -> tuple[str, ...]:
    """Every secret a request of `action` carries: the values of the secret tags it uses, its credentials."""
    found = auth_secrets(action, values)
    if secret_tags:
        used = tags_used(action)
        found |= {value for tag in secret_tags if tag in used and (value := clean_text(values.get(tag, "")))}
    return tuple(sorted(found))
