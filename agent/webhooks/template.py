"""`{{tag}}` templating of actions (docs/actions.md): finding tags and substituting values. Pure.

A tag is letters, digits, `_`, `-`, `/` and `.` (`{{Srv/Tenant-ID}}`), with optional spaces inside the braces
(`{{ tag }}`). Anything else between braces (`{{$guid}}`, `{{a b}}`) is not a tag and stays as written.
Undefined tags become empty when substituted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping

from agent.store.model import Action

TAG_CHARS = r"[A-Za-z0-9_\-/.]+"
TAG_RE = re.compile(r"\{\{\s*(" + TAG_CHARS + r")\s*\}\}")
VALID_TAG_RE = re.compile(TAG_CHARS)


def is_valid_tag(tag: str) -> bool:
    """True when `tag` can be written as `{{tag}}`."""
    return VALID_TAG_RE.fullmatch(tag) is not None


def tags_in(text: str) -> Iterator[str]:
    """The tags of `text`, in order of appearance (repeats included)."""
    for match in TAG_RE.finditer(text):
        yield match.group(1)


def substitute(text: str, values: Mapping[str, str], escape: Callable[[str], str] | None = None) -> str:
    """Replace each tag by its value (empty when undefined), passed through `escape` when given."""

    if "{{" not in text:
        return text

    def one(match: re.Match[str]) -> str:
        value = values.get(match.group(1), "")
        return escape(value) if escape is not None else value

    return TAG_RE.sub(one, text)


def action_texts(action: Action) -> Iterator[str]:
    """Every templated text of an action, in the order a reader meets them."""
    yield action.url
    for pair in (*action.query, *action.headers, *action.body.fields):
        yield pair.key
        yield pair.value
    body, auth = action.body, action.auth
    if body.type == "raw":
        yield body.content_type
        yield body.raw
    if auth.type == "api_key":
        yield from (auth.key, auth.value)
    elif auth.type == "basic":
        yield from (auth.username, auth.password)
    elif auth.type == "bearer":
        yield auth.token


def _ordered_tags(action: Action) -> Iterator[str]:
    for text in action_texts(action):
        yield from tags_in(text)


def tags_used(action: Action) -> set[str]:
    """The set of tags an action uses anywhere."""
    return set(_ordered_tags(action))


def undefined_tags(action: Action, known: Collection[str]) -> list[str]:
    """Tags the action uses that are not in `known`, each once, in order of first appearance."""
    found: dict[str, None] = {}
    for tag in _ordered_tags(action):
        if tag not in known:
            found.setdefault(tag)
    return list(found)


def usage_counts(actions: Iterable[Action], tags: Iterable[str]) -> dict[str, int]:
    """For each of `tags`, how many of `actions` use it (an action counts once however often it uses it)."""
    counts = dict.fromkeys(tags, 0)
    for action in actions:
        for tag in tags_used(action):
            if tag in counts:
                counts[tag] += 1
    return counts
