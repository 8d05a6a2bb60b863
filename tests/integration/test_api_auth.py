"""Admin token: configured, generated into the state directory (0600), refused on a public bind; bearer checks."""

from __future__ import annotations

import re
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.admin_api.auth import FAILURE_BUDGET, TokenUnavailable, authorized, is_loopback, load_or_create_token
from agent.app import admin_token
from agent.settings import Settings, SettingsError
from tests.support.api import Api, running_api
from tests.support.settings import TOKEN, agent_settings

LONG = "s3cret-token-of-32-characters-at-least"


def _settings(tmp_path: Path, host: str = "127.0.0.1", token: str | None = None) -> Settings:
    """Settings whose admin API binds `host` with `token` (None: no token configured)."""
    return agent_settings(tmp_path / "state", admin={"host": host, "token": token})


class TestLoadOrCreateToken:
    def test_configured(self, tmp_path: Path) -> None:
        """Given a configured token, when loaded, then it is used and no file is written."""
        assert load_or_create_token(_settings(tmp_path, token=LONG)) == LONG
        assert not (tmp_path / "state" / "admin-token").exists()

    def test_generated_once(self, tmp_path: Path) -> None:
        """Given no token, when loaded twice, then one random token is written with mode 0600 and reused."""
        first = load_or_create_token(_settings(tmp_path))
        path = tmp_path / "state" / "admin-token"
        assert len(first) >= 32
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert load_or_create_token(_settings(tmp_path)) == first

    def test_public_bind_without_token(self, tmp_path: Path) -> None:
        """Given a non-loopback admin host and no token, when loaded, then the refusal names the setting, and the
        daemon reports it as a settings problem (exit status 78)."""
        with pytest.raises(TokenUnavailable, match="EVENT_AGENT_ADMIN__HOST"):
            load_or_create_token(_settings(tmp_path, host="0.0.0.0"))
        with pytest.raises(SettingsError, match="EVENT_AGENT_ADMIN__HOST"):
            admin_token(_settings(tmp_path, host="0.0.0.0"))

    def test_public_bind_with_token(self, tmp_path: Path) -> None:
        """Given a non-loopback admin host and a token, when loaded, then the token is used."""
        assert load_or_create_token(_settings(tmp_path, host="0.0.0.0", token=LONG)) == LONG

    @pytest.mark.parametrize(
        ("host", "loopback"),
        [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True), ("localhost", True),
         ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("pbx.example", False)],
    )
    def test_is_loopback(self, host: str, loopback: bool) -> None:
        """Given a host, when classified, then only loopback addresses and names count as local."""
        assert is_loopback(host) is loopback


class TestAuthorized:
    @pytest.mark.parametrize(
        ("header", "ok"),
        [(f"Bearer {TOKEN}", True), (f"Bearer {TOKEN}x", False), ("Bearer ", False), (None, False),
         (f"Basic {TOKEN}", False), (TOKEN, False), (f"bearer{TOKEN}", False)],
    )
    def test_header(self, header: str | None, ok: bool) -> None:
        """Given an Authorization header, when checked, then only `Bearer <token>` passes."""
        assert authorized(header, TOKEN) is ok

    def test_empty_token_never_matches(self) -> None:
        """Given an empty expected token, when checked, then nothing passes."""
        assert not authorized("Bearer ", "")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


def _api_routes(api: Api) -> list[tuple[str, str]]:
    routes = []
    for route in api.client.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith("/api/v1"):
            routes.append((route.method, re.sub(r"\{\w+\}", "1", path)))
    return routes


class TestBearer:
    async def test_every_route_needs_token(self, api: Api) -> None:
        """Given every /api/v1 route, when called without a token, then 401 in the error shape."""
        routes = _api_routes(api)
        assert len(routes) >= 20
        for method, path in routes:
            status, body = await api.call(method, path, token=None, json={})
            assert (method, path, status) == (method, path, 401)
            assert set(body) == {"error", "details"}

    async def test_wrong_token(self, api: Api) -> None:
        """Given every /api/v1 route, when called with a wrong token, then 401 (429 once the address has used up
        its budget of wrong tokens) and nothing is written."""
        for count, (method, path) in enumerate(_api_routes(api)):
            status, _ = await api.call(method, path, token="nope", json={"actions_enabled": True})
            assert (method, path, status) == (method, path, 401 if count < FAILURE_BUDGET else 429)
        assert api.changes == []
        assert (await api.store.get_settings()).actions_enabled is False

    async def test_unknown_api_path(self, api: Api) -> None:
        """Given an unknown path under /api/v1, when called without a token, then 401 (not 404)."""
        status, _ = await api.call("GET", "/api/v1/nothing-here", token=None)
        assert status == 401

    async def test_public_endpoints(self, api: Api) -> None:
        """Given no token, when /healthz and /metrics are fetched, then both answer without the token."""
        health_status, health = await api.call("GET", "/healthz", token=None)
        async with api.client.get("/metrics") as response:
            metrics_status, metrics = response.status, await response.text()
            content_type = response.headers["Content-Type"]
        assert (health_status, health["status"]) == (200, "ok")
        assert (metrics_status, content_type) == (200, "text/plain; version=0.0.4; charset=utf-8")
        assert "# TYPE event_agent_outbox_depth gauge" in metrics
        assert TOKEN not in str(health) + metrics
