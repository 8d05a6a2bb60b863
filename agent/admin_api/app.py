"""The admin API application: `create_app(deps)` wires middlewares, every route, the page and its assets."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from agent.admin_api import openapi, rates
from agent.admin_api.auth import auth_middleware
from agent.admin_api.deps import ApiDeps
from agent.admin_api.errors import ApiError, error_middleware, expect_handler
from agent.admin_api.payload import POSTMAN_LIMIT
from agent.admin_api.routes import actions, activity, events, parameters, postman, settings, status
from agent.admin_api.routing import DEPS, ROUTES_KEY, SCHEMAS_KEY, Route

STATIC_DIR = Path(__file__).parent / "static"


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
    app = web.Application(middlewares=[error_middleware, auth_middleware], client_max_size=POSTMAN_LIMIT)
    app[DEPS] = deps
    app[ROUTES_KEY] = all_routes()
    app[SCHEMAS_KEY] = {**openapi.SCHEMAS, **rates.SCHEMAS}
    for route in app[ROUTES_KEY]:
        app.router.add_route(route.method, route.path, route.handler, expect_handler=expect_handler)
    if STATIC_DIR.is_dir():
        app.router.add_static("/static/", STATIC_DIR, append_version=False, expect_handler=expect_handler)
        app.on_response_prepare.append(_revalidate_assets)
    app.router.add_route("*", "/{unmatched:.*}", unmatched, expect_handler=expect_handler)
    return app


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
