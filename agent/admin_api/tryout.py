"""Trying an action out: Save & Test (send once now, record it) and dry run (render only).

Both use the sample values of agent/admin_api/samples.py, the custom parameters, and any `values` given in the
request body. A dry run shows secret custom parameters as `********`; Save & Test sends their real values.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.admin_api.errors import ApiError, validation_details
from agent.admin_api.payload import parse_json, read_body
from agent.admin_api.routing import deps
from agent.admin_api.samples import merged, sample_values
from agent.records import NewActivity
from agent.webhooks.request import render

MASK = "********"


class TestValues(BaseModel):
    """Optional body: values that override the samples and the custom parameters."""

    model_config = ConfigDict(extra="forbid", strict=True)

    values: dict[str, str] = Field(default_factory=dict, max_length=1000)


async def _given(request: web.Request) -> dict[str, str]:
    data = await read_body(request)
    if not data.strip():
        return {}
    try:
        return TestValues.model_validate(parse_json(data)).values
    except ValidationError as exc:
        raise ApiError(422, "validation failed", validation_details(exc)) from None


async def _values(request: web.Request, event: str, mask_secrets: bool) -> dict[str, str]:
    api = deps(request)
    samples = sample_values(api.clock(), api.settings.mapping.timezone, api.settings.mapping.tenant, event)
    custom = {p.tag: MASK if p.secret and mask_secrets else p.value for p in await api.store.list_parameters()}
    return merged(samples, custom, await _given(request))


async def test_action(request: web.Request, action_id: int) -> dict[str, Any]:
    """Send the stored action once now and record the attempt as event `test.<id>.<unix time>`."""
    api = deps(request)
    action = await api.store.get_action(action_id)
    now = api.clock()
    event = f"test.{action_id}.{int(now.timestamp())}"
    result = await api.send_test(action, await _values(request, event, mask_secrets=False))
    row = await api.store.add_activity(NewActivity(
        action=action.name, action_id=action_id, event=event, call_id="", attempt=1, status=result.status,
        message=result.message, duration_ms=result.duration_ms, date=now.timestamp(),
    ))
    return {"status": result.status, "message": result.message, "duration_ms": result.duration_ms,
            "event": event, "activity_id": row.id}


async def dry_run(request: web.Request, action_id: int) -> dict[str, Any]:
    """The request the action would send now, without sending it."""
    api = deps(request)
    action = await api.store.get_action(action_id)
    event = f"test.{action_id}.{int(api.clock().timestamp())}"
    rendered = render(action, await _values(request, event, mask_secrets=True))
    return {
        "method": rendered.method,
        "url": rendered.url,
        "headers": [{"key": key, "value": value} for key, value in rendered.headers],
        "body": rendered.body.decode("utf-8", "replace"),
        "timeout_s": rendered.timeout_s,
    }
