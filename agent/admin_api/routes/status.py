"""Health, Prometheus metrics and the live status of the agent."""

from __future__ import annotations

import json

from aiohttp import web

from agent import __version__
from agent.admin_api.routing import API_PREFIX, Route, deps

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


async def healthz(request: web.Request) -> web.Response:
    """Liveness only: no token, nothing about the PBX or the configuration."""
    return web.json_response({"status": "ok", "version": __version__})


async def metrics(request: web.Request) -> web.Response:
    text = deps(request).metrics.render()
    return web.Response(body=text.encode("utf-8"), headers={"Content-Type": PROMETHEUS_TEXT})


async def status(request: web.Request) -> web.Response:
    """The daemon's live status (AMI link, calls in progress, outbox depth, counters)."""
    body = json.dumps(dict(deps(request).status()), default=str)
    return web.Response(text=body, content_type="application/json")


ROUTES = (
    Route("GET", "/healthz", healthz, "Liveness check (no token)", "status", response="Health"),
    Route("GET", "/metrics", metrics, "Prometheus metrics (no token)", "status", response="text/plain"),
    Route("GET", f"{API_PREFIX}/status", status, "Live status of the agent", "status", response="Status"),
)
