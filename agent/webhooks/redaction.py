"""The one redaction of secrets (docs/security.md, "What is masked where"). Pure.

A request carries its secrets (`RenderedRequest.secrets`: the values of the secret parameters it uses and its
credentials: bearer token, basic password and the base64 of `username:password`, api key value). Every text
about it that people can read (the activity message, the Save & Test answer, a dry run, a log line) goes through
`redact_text` or `redact_request`, which replace each secret, in every form a request can carry it (as is,
percent-, form- or JSON-encoded, with control characters cleaned), by `MASK`.

`MASK` is also what the admin API shows instead of a secret parameter's value or a credential of an action; a
client that sends it back unchanged keeps the stored value.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Mapping
from urllib.parse import quote, quote_plus

from agent.store.model import RenderedRequest
from agent.webhooks.request import MASK, PATH_SAFE, clean_text, header_value, json_escape

Header = tuple[str, str]


def mask_values(values: Mapping[str, str], secret_tags: Collection[str]) -> dict[str, str]:
    """`values` with the secret ones replaced by the mask: render with these for a dry run shown to people."""
    return {tag: MASK if tag in secret_tags and value else value for tag, value in values.items()}


def _variants(secret: str) -> set[str]:
    """How a secret can appear in a rendered request or an error text: as is, percent-, form- or JSON-encoded."""
    forms = {secret, quote(secret, safe=""), quote(secret, safe=PATH_SAFE), quote_plus(secret, safe="")}
    forms |= {json_escape(secret), header_value(secret)}
    return {form for form in forms if form}


def _ordered(secrets: Collection[str]) -> list[str]:
    clean = {clean_text(secret) for secret in secrets if secret}
    return sorted({v for secret in clean for v in _variants(secret)}, key=len, reverse=True)


def _mask(text: str, variants: list[str]) -> str:
    for variant in variants:
        text = text.replace(variant, MASK)
    return text


def redact_text(text: str, secrets: Collection[str]) -> str:
    """`text` with every form of every secret replaced by the mask."""
    return _mask(text, _ordered(secrets)) if text and secrets else text


def _basic_credentials(encoded: str) -> str:
    try:
        return base64.b64decode(encoded.strip(), validate=True).decode("utf-8", "replace")
    except binascii.Error:
        return ""


def _mask_header(name: str, value: str, variants: list[str], secrets: Collection[str]) -> Header:
    if name.lower() == "authorization" and value[:6].lower() == "basic ":
        decoded = _basic_credentials(value[6:])
        if any(secret in decoded for secret in secrets if secret):
            return name, "Basic " + MASK
    return name, _mask(value, variants)


def redact_request(request: RenderedRequest, secrets: Collection[str]) -> RenderedRequest:
    """The request with every secret masked in URL, headers and body (a dry run shown to people)."""
    variants = _ordered(secrets)
    if not variants:
        return request
    headers = tuple(_mask_header(name, value, variants, secrets) for name, value in request.headers)
    body = request.body
    for variant in variants:
        body = body.replace(variant.encode(), MASK.encode())
    return RenderedRequest(request.method, _mask(request.url, variants), headers, body, request.timeout_s)
