"""The admin API application: `create_app(deps)` wires middlewares, every route, the page and its assets.

Browser-side hardening (docs/security.md, "Admin API off loopback"): a request whose `Host` is a name the agent
was not told about is refused (421) before anything else, so a DNS-rebinding page cannot talk to it (see
`hosts.py`); every response carries a Content-Security-Policy with `frame-ancestors 'none'`,
`X-Frame-Options: DENY`, `nosniff` and `no-referrer`.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from agent.admin_api import openapi, rates
from agent.admin_api.auth import THROTTLE, Throttle, auth_middleware
from agent.admin_api.deps import ApiDeps
from agent.admin_api.errors import ApiError, error_middleware, expect_handler
from agent.admin_api.hosts import host_middleware
from agent.admin_api.payload import POSTMAN_LIMIT
from agent.admin_api.routes import actions, activity, events, parameters, postman, settings, status
from agent.admin_api.routing import DEPS, ROUTES_KEY, SCHEMAS_KEY, Handler, Route

STATIC_DIR = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def all_routes() -> tuple[Route, ...]:
    """Every operation served by the app, in the order the OpenAPI document lists them."""
    return (
        *events.ROUTES,
        *settings.ROUTES,
        *actions.ROUTES,
        *parameters.ROUTES,
        *postman.ROUTES,
        *rates.ROUTES,
        *activity.ROUTES,
        *status.ROUTES,
        *openapi.ROUTES,
        Route("GET", "/", index, "The web page (when installed); its assets are under /static/", "page",
              response="text/html"),
    )


def create_app(deps: ApiDeps) -> web.Application:
    """A fresh application; it holds no state of its own beyond `deps`."""
    app = web.Application(middlewares=[error_middleware, host_middleware, auth_middleware, asset_middleware],
                          client_max_size=POSTMAN_LIMIT)
    app[DEPS] = deps
    app[THROTTLE] = Throttle(lambda: deps.clock().timestamp())
    app[ROUTES_KEY] = all_routes()
    app[SCHEMAS_KEY] = {**openapi.SCHEMAS, **rates.SCHEMAS}
    for route in app[ROUTES_KEY]:
        app.router.add_route(route.method, route.path, route.handler, expect_handler=expect_handler)
    if STATIC_DIR.is_dir():
        app.router.add_static("/static/", STATIC_DIR, append_version=False, expect_handler=expect_handler)
        app.on_response_prepare.append(_revalidate_assets)
    app.on_response_prepare.append(_harden)
    app.router.add_route("*", "/{unmatched:.*}", unmatched, expect_handler=expect_handler)
    return app


async def _harden(request: web.Request, response: web.StreamResponse) -> None:
    """Every response: no framing, no other origin's scripts, no sniffing, no referrer."""
    response.headers.update(SECURITY_HEADERS)


def _is_asset(filename: str) -> bool:
    """True when `filename` is a regular file inside the assets directory."""
    root = STATIC_DIR.resolve()
    try:
        path = (root / filename).resolve()
    except (OSError, ValueError):
        return False
    return path.is_relative_to(root) and path.is_file()


@web.middleware
async def asset_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A missing asset is a 404 in the error shape (aiohttp's static route answers it with an empty body)."""
    filename = request.match_info.get("filename")
    if request.path.startswith("/static/") and filename is not None and not _is_asset(filename):
        raise web.HTTPNotFound
    return await handler(request)


async def unmatched(request: web.Request) -> web.StreamResponse:
    """Registered last: 405 when another resource serves the path with other methods, else 404.

    Without it aiohttp answers unknown paths itself, with its own Expect handling (a 500 on a non-ASCII
    Expect header); here every request goes through `expect_handler` and the middlewares' error shape.
    """
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.canonical != "/{unmatched}":
            allowed |= (await resource.resolve(request))[1]
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound


async def _revalidate_assets(request: web.Request, response: web.StreamResponse) -> None:
    """Assets, like the page, are revalidated on every load: an upgraded agent never runs yesterday's scripts."""
    if request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-cache"


async def index(request: web.Request) -> web.StreamResponse:
    """The web page, when it is installed."""
    page = STATIC_DIR / "index.html"
    if not page.is_file():
        raise ApiError(404, "not found", [{"message": "the web page is not installed; the API is under /api/v1"}])
    return web.FileResponse(page, headers={"Cache-Control": "no-cache"})
