"""Trying an action out: Save & Test (send once now, record it) and dry runs (render only).

All use the sample values of agent/admin_api/samples.py, the custom parameters, and any `values` given in the
request body. A dry run shows secret custom parameters and the action's credentials (bearer token, basic
password and the base64 of the pair, api key value) as `********`; Save & Test sends the real values, and its
answer is redacted of them like every delivery attempt (agent/webhooks/redaction.py).
A dry run renders a stored action (by id) or an unsaved one given in the body (`{"action": {...}, "values":
{...}}`, the page's Preview): both go through `_rendered`, and the unsaved action is validated as Save would,
with the same field names (`auth.token`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.admin_api.errors import ApiError
from agent.admin_api.payload import parse_json, read_body, read_model
from agent.admin_api.routing import deps
from agent.admin_api.samples import merged, sample_values
from agent.store.model import Action
from agent.store.records import NewActivity
from agent.webhooks.redaction import mask_values, redact_request, redact_text
from agent.webhooks.request import MASK, auth_secrets, carried_secrets, render
from agent.webhooks.schema import action_from_json, validation_details

Values = dict[str, str]


class TestValues(BaseModel):
    """Optional body: values that override the samples and the custom parameters."""

    model_config = ConfigDict(extra="forbid", strict=True)

    values: Values = Field(default_factory=dict, max_length=1000)


class UnsavedDryRun(BaseModel):
    """The body of a dry run of an unsaved action: the action as Save would take it, and optional values."""

    model_config = ConfigDict(extra="forbid", strict=True)

    action: dict[str, Any]
    values: Values = Field(default_factory=dict, max_length=1000)


async def _given(request: web.Request) -> Values:
    data = await read_body(request)
    if not data.strip():
        return {}
    try:
        return TestValues.model_validate(parse_json(data)).values
    except ValidationError as exc:
        raise ApiError(422, "validation failed", validation_details(exc)) from None


async def _values(request: web.Request, event: str, given: Values) -> tuple[Values, frozenset[str]]:
    """The values a try-out renders with, and the tags among them that are secret."""
    api = deps(request)
    samples = sample_values(api.clock(), api.settings.mapping.timezone, api.settings.mapping.tenant, event)
    parameters = await api.store.list_parameters()
    custom = {p.tag: p.value for p in parameters}
    return merged(samples, custom, given), frozenset(p.tag for p in parameters if p.secret)


def _event(action_id: int | str, now: datetime) -> str:
    """The event name of a try-out: `test.<action id>.<unix time>` (`test.preview.<unix time>` when unsaved)."""
    return f"test.{action_id}.{int(now.timestamp())}"


async def test_action(request: web.Request, action_id: int) -> dict[str, Any]:
    """Send the stored action once now and record the attempt as event `test.<id>.<unix time>`."""
    api = deps(request)
    action = await api.store.get_action(action_id)
    now = api.clock()
    event = _event(action_id, now)
    values, secret_tags = await _values(request, event, await _given(request))
    result = await api.send_test(action, values)
    message = redact_text(result.message, carried_secrets(action, values, secret_tags))
    row = await api.store.add_activity(NewActivity(
        action=action.name, action_id=action_id, event=event, call_id="", attempt=1, status=result.status,
        message=message, duration_ms=result.duration_ms, date=now.timestamp(),
    ))
    return {"status": result.status, "message": message, "duration_ms": result.duration_ms,
            "event": event, "activity_id": row.id}


async def dry_run(request: web.Request, action_id: int) -> dict[str, Any]:
    """The request the stored action would send now, without sending it."""
    action = await deps(request).store.get_action(action_id)
    return await _rendered(request, action, _event(action_id, deps(request).clock()), await _given(request))


async def dry_run_unsaved(request: web.Request) -> dict[str, Any]:
    """The request an action given in the body would send now: nothing is saved, sent or logged."""
    body = await read_model(request, UnsavedDryRun)
    try:
        action = action_from_json(body.action)
    except ValidationError as exc:
        raise ApiError(422, "validation failed", validation_details(exc)) from None
    return await _rendered(request, action, _event("preview", deps(request).clock()), body.values)


async def _rendered(request: web.Request, action: Action, event: str, given: Values) -> dict[str, Any]:
    values, secret_tags = await _values(request, event, given)
    shown = mask_values(values, secret_tags)
    # the mask itself is redacted too, so a masked value reads `********` wherever it was encoded (`%2A...`)
    rendered = redact_request(render(action, shown), {MASK, *auth_secrets(action, shown)})
    return {
        "method": rendered.method,
        "url": rendered.url,
        "headers": [{"key": key, "value": value} for key, value in rendered.headers],
        "body": rendered.body.decode("utf-8", "replace"),
        "timeout_s": rendered.timeout_s,
    }
