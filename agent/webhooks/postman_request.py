"""One Postman request's URL, headers and body in our terms, with a note for everything not kept as is. Pure.

URL: a string, or an object whose `raw` gives the base up to `?` while `query[]` (when present) gives the
query; without `raw` the URL is rebuilt from protocol, host, port and path. The fragment is dropped. Query
entries are decoded (they are written as in the URL) and disabled ones skipped; a null value is a flag. Path
variables `:name` (in a string URL too) take their value, or become the parameter `{{name}}` when they have none.
A URL without a scheme gets `http://` (Postman's default), unless it starts with a `{{variable}}`. A query entry
whose text the agent percent-encodes where Postman sends it as written (`$select=id,displayName`) is noted.
Headers: an array of objects or `K: V` strings, or one string of lines. An `Authorization` header is kept as a
header (never lifted into auth); an auth of the request replaces it when sent.
Body: raw (Content-Type header, else `options.raw.language`, else text/plain), urlencoded (v2.1 `disabled`,
v2.0 `enabled`), formdata text parts (file parts skipped), file with inline content as raw, graphql as JSON.
An empty body is none. A body on GET, HEAD, COPY, PURGE and UNLOCK is dropped, as Postman drops it, unless
`disableBodyPruning`. An explicit Content-Type on a form is kept (URL-encoded form), turns a form-data body into a
URL-encoded one (`application/x-www-form-urlencoded`), or is replaced by multipart/form-data, with a note.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from urllib.parse import quote, unquote_plus

from agent.store.model import Body, KeyValue
from agent.webhooks.postman_scope import stringify, tag_for
from agent.webhooks.request import SCHEME_RE, header_value, split_authority, split_url_query
from agent.webhooks.template import TAG_RE

Pairs = tuple[KeyValue, ...]
# Printable characters that the agent percent-encodes in a query but Postman sends as they are.
_POSTMAN_KEEPS_RE = re.compile(r"[!$()*+,/:;?@\[\]^`{|}%]")
_REFERENCE_RE = re.compile(r"\{\{[^{}]*\}\}")  # any Postman reference, dynamic ones too
# Methods whose body Postman does not send unless `protocolProfileBehavior.disableBodyPruning` is true.
PRUNED_METHODS = frozenset({"GET", "HEAD", "COPY", "PURGE", "UNLOCK"})
LANGUAGES = {
    "json": "application/json",
    "xml": "application/xml",
    "text": "text/plain",
    "javascript": "application/javascript",
    "html": "text/html",
}


def _enabled(entry: Mapping[str, object]) -> bool:
    return entry.get("disabled") is not True and entry.get("enabled") is not False


def _rebuild(url: Mapping[str, object]) -> str:
    protocol, host, port, path = (url.get(key) for key in ("protocol", "host", "port", "path"))
    text = f"{stringify(protocol)}://" if protocol else ""
    text += ".".join(stringify(label) for label in host) if isinstance(host, list) else stringify(host)
    text += f":{stringify(port)}" if port not in (None, "") else ""
    if isinstance(path, list):
        segments = (stringify(s.get("value") if isinstance(s, dict) else s) for s in path)
        text += "/" + "/".join(segments)
    elif isinstance(path, str) and path:
        text += "/" + path.lstrip("/")
    return text


def _query_entries(entries: list[object], notes: list[str]) -> Pairs:
    kept = []
    for entry in entries:
        if not isinstance(entry, dict) or not _enabled(entry):
            continue
        key, value = entry.get("key"), entry.get("value")
        if key is None or stringify(key) == "":
            if value is not None and stringify(value) != "":
                notes.append(f"query value '{stringify(value)}' without a key skipped")
            continue
        kept.append(KeyValue(unquote_plus(stringify(key)), unquote_plus(stringify(value))))
    return tuple(kept)


def encoding_notes(query: Pairs) -> list[str]:
    """A note per query entry whose literal text the agent percent-encodes where Postman sends it as written."""
    notes = []
    for entry in query:
        written = f"{entry.key}={entry.value}" if entry.value else entry.key
        if _POSTMAN_KEEPS_RE.search(_REFERENCE_RE.sub("", written)):
            sent = f"{_encoded(entry.key)}={_encoded(entry.value)}" if entry.value else _encoded(entry.key)
            notes.append(f"query {written} is sent as {sent} (Postman sends these characters as written)")
    return notes


def _encoded(text: str) -> str:
    """`text` as the agent encodes a query key or value, with `{{tags}}` shown as they are."""
    pieces, position = [], 0
    for match in TAG_RE.finditer(text):
        pieces += [quote(text[position : match.start()], safe=""), match.group(0)]
        position = match.end()
    return "".join([*pieces, quote(text[position:], safe="")])


def _path_variables(base: str, variables: object, notes: list[str]) -> str:
    values = {}
    for entry in variables if isinstance(variables, list) else ():
        if isinstance(entry, dict):
            values[stringify(entry.get("key", entry.get("id")))] = stringify(entry.get("value"))
    authority, path = split_authority(base)
    return authority + "/".join(_path_segment(segment, values, notes) for segment in path.split("/"))


def _path_segment(segment: str, values: Mapping[str, str], notes: list[str]) -> str:
    name = segment[1:]
    if not segment.startswith(":") or not name or TAG_RE.search(segment):
        return segment
    if values.get(name):
        return values[name]
    tag = "{{" + (tag_for(name) or "path") + "}}"
    notes.append(f"path variable :{name} has no value; it became the parameter {tag}")
    return tag


def convert_url(url: object, notes: list[str]) -> tuple[str, Pairs]:
    """The base URL and query entries of a Postman URL (string or object)."""
    if isinstance(url, str):
        base, query = split_url_query(url.strip())
        base = _path_variables(base, None, notes)
    elif isinstance(url, dict):
        raw = url.get("raw")
        base, query = split_url_query(raw.strip()) if isinstance(raw, str) and raw.strip() else (_rebuild(url), ())
        entries = url.get("query")
        if isinstance(entries, list):
            query = _query_entries(entries, notes)
        base = _path_variables(base, url.get("variable"), notes)
    else:
        return "", ()
    if base and not SCHEME_RE.match(base) and not TAG_RE.match(base):
        notes.append("the URL has no scheme; http:// assumed")
        base = "http://" + base
    return base, query


def _header_line(line: str, notes: list[str]) -> KeyValue | None:
    key, colon, value = line.partition(":")
    if not colon or not key.strip():
        if line.strip():
            notes.append(f"header line '{line.strip()}' is not 'Name: value'; skipped")
        return None
    return KeyValue(key.strip(), value.strip())


def _header(entry: object, notes: list[str]) -> KeyValue | None:
    if isinstance(entry, str):
        return _header_line(entry, notes)
    if not isinstance(entry, dict) or not _enabled(entry):
        return None
    key, value = stringify(entry.get("key")).strip(), stringify(entry.get("value"))
    if not key:
        notes.append("a header without a name skipped")
        return None
    if header_value(value) != value.strip():
        notes.append(f"control characters removed from header {key}")
    return KeyValue(key, header_value(value))


def convert_headers(headers: object, notes: list[str]) -> Pairs:
    """Headers given as an array (objects and/or strings) or one string of lines; disabled ones skipped."""
    entries: list[object] = re.split(r"\r?\n", headers) if isinstance(headers, str) else []
    if isinstance(headers, list):
        entries = headers
    elif headers is not None and not isinstance(headers, str):
        notes.append("the headers are not understood; none imported")
    found = (_header(entry, notes) for entry in entries)
    return tuple(header for header in found if header is not None)


def _pop_content_type(headers: Pairs) -> tuple[str, Pairs]:
    found = [h.value for h in headers if h.key.lower() == "content-type"]
    return (found[-1] if found else ""), tuple(h for h in headers if h.key.lower() != "content-type")


def _fields(entries: object, notes: list[str]) -> Pairs:
    kept = []
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict) or not _enabled(entry):
            continue
        key = stringify(entry.get("key"))
        kind = entry.get("type")
        if kind == "file" or (kind != "text" and entry.get("src") not in (None, "", [])):
            notes.append(f"file part '{key}' skipped: files cannot be sent")
            continue
        if entry.get("contentType"):
            notes.append(f"the content type of part '{key}' is not kept")
        if key or stringify(entry.get("value")):
            kept.append(KeyValue(key, stringify(entry.get("value"))))
    return tuple(kept)


def _graphql(graphql: object, notes: list[str]) -> str:
    spec = graphql if isinstance(graphql, dict) else {}
    query, variables = stringify(spec.get("query")), spec.get("variables")
    if isinstance(variables, str):
        if not variables.strip():
            return json.dumps({"query": query}, ensure_ascii=False)
        try:
            variables = json.loads(variables)
        except ValueError:
            notes.append("the GraphQL variables are not plain JSON; kept as written")
            return '{"query": ' + json.dumps(query, ensure_ascii=False) + ', "variables": ' + variables + "}"
    document = {"query": query} if variables is None else {"query": query, "variables": variables}
    return json.dumps(document, ensure_ascii=False)


def _raw_type(body: Mapping[str, object], explicit: str) -> str:
    options = body.get("options")
    raw_options = options.get("raw") if isinstance(options, dict) else None
    language = raw_options.get("language") if isinstance(raw_options, dict) else None
    return explicit or LANGUAGES.get(stringify(language), "text/plain")


def _raw(body: Mapping[str, object], content_type: str, notes: list[str]) -> Body | None:
    raw = stringify(body.get("raw"))
    return Body("raw", raw=raw, content_type=_raw_type(body, content_type)) if raw else None


def _urlencoded(body: Mapping[str, object], content_type: str, notes: list[str]) -> Body | None:
    return Body("x-www-form-urlencoded", fields=_fields(body.get("urlencoded"), notes))


def _formdata(body: Mapping[str, object], content_type: str, notes: list[str]) -> Body | None:
    return Body("form-data", fields=_fields(body.get("formdata"), notes))


def _graphql_body(body: Mapping[str, object], content_type: str, notes: list[str]) -> Body | None:
    return Body("raw", raw=_graphql(body.get("graphql"), notes), content_type="application/json")


def _file(body: Mapping[str, object], content_type: str, notes: list[str]) -> Body | None:
    spec = body.get("file")
    content = spec.get("content") if isinstance(spec, dict) else None
    if isinstance(content, str):
        return Body("raw", raw=content, content_type=content_type or "application/octet-stream")
    notes.append("the file body cannot be imported; imported without a body")
    return None


_MODES = {"raw": _raw, "urlencoded": _urlencoded, "formdata": _formdata, "graphql": _graphql_body, "file": _file}


def convert_body(
    body: object, headers: Pairs, notes: list[str], method: str = "POST", keep: bool = False
) -> tuple[Body, Pairs]:
    """Our body for a Postman body, and the headers (a Content-Type moves into a raw body's content type).

    An empty body is none; a body on GET, HEAD, COPY, PURGE or UNLOCK is dropped as Postman drops it, unless
    `keep` (the request's `disableBodyPruning`).
    """
    if not isinstance(body, dict) or body.get("disabled") is True or body.get("mode") in (None, ""):
        return Body(), headers
    mode = stringify(body.get("mode"))
    convert = _MODES.get(mode)
    if convert is None:
        notes.append(f"body mode '{mode}' is not supported; imported without a body")
        return Body(), headers
    content_type, others = _pop_content_type(headers)
    said: list[str] = []
    converted = convert(body, content_type, said)
    empty = converted is None or not (converted.raw or converted.fields)
    if method in PRUNED_METHODS and not keep and (said or not empty):
        notes.append(f"the {mode} body is dropped: Postman sends no body with {method} (no disableBodyPruning)")
        return Body(), headers
    notes.extend(said)
    if converted is None or empty:
        return Body(), headers
    return _typed(converted, content_type, headers, others, notes)


def _typed(body: Body, content_type: str, headers: Pairs, others: Pairs, notes: list[str]) -> tuple[Body, Pairs]:
    """The body and headers once an explicit Content-Type is weighed against the body's own type."""
    kind = content_type.split(";", maxsplit=1)[0].strip().lower()
    if body.type == "raw":
        return body, others
    if body.type == "x-www-form-urlencoded":
        if kind and kind != "application/x-www-form-urlencoded":
            notes.append(f"the Content-Type header '{content_type}' is kept as written for the URL-encoded form")
        return body, headers
    if kind == "application/x-www-form-urlencoded":
        notes.append("the form-data body is sent URL-encoded, as its Content-Type header says")
        return Body("x-www-form-urlencoded", fields=body.fields), headers
    if kind and kind != "multipart/form-data":
        notes.append(f"the Content-Type header '{content_type}' is replaced by multipart/form-data for the form")
    return body, others
