"""The admin API against guessing, rebinding, framing and input it cannot store (docs/security.md).

Also what held up in review and must keep holding: no auth bypass, no static traversal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from agent.admin_api.auth import FAILURE_BUDGET, FAILURE_WINDOW_S, Throttle, load_or_create_token
from agent.settings import AdminSettings, Settings
from tests.support.api import Api, action_json, running_api
from tests.support.paths import ROOT
from tests.support.settings import TOKEN, agent_settings

HARDENING = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


async def _raw(api: Api, method: str, path: str, headers: dict[str, str] | None = None,
               **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    url = api.client.make_url("/").join(URL(path, encoded=True))
    async with api.client.session.request(method, url, headers=headers or {}, **kwargs) as response:
        return response.status, dict(response.headers), await response.read()


def _run_agent(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("EVENT_AGENT_")}
    return subprocess.run([sys.executable, "-m", "agent", "run"], cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=60, env={**clean, **env})


class TestTokens:
    def test_short_token_refused(self, tmp_path: Path) -> None:
        """Given EVENT_AGENT_ADMIN__TOKEN of one character, when the agent starts, then it exits 78 naming the
        setting and the minimum length."""
        result = _run_agent({"EVENT_AGENT_ADMIN__TOKEN": "a", "EVENT_AGENT_STATE_DIR": str(tmp_path)})
        assert result.returncode == 78
        assert "EVENT_AGENT_ADMIN__TOKEN" in result.stderr
        assert "at least 32" in result.stderr
        assert "Traceback" not in result.stderr

    def test_generated_token_is_long(self, tmp_path: Path) -> None:
        """Given no configured token, when one is generated, then it has at least 32 characters."""
        assert len(load_or_create_token(agent_settings(tmp_path, admin={"token": None}))) >= 32

    def test_long_token_accepted(self) -> None:
        """Given a token of exactly 32 characters, then the settings take it."""
        assert AdminSettings.model_validate({"token": "x" * 32}).token is not None


class TestGuessing:
    async def test_429_after_the_budget(self, api: Api) -> None:
        """Given FAILURE_BUDGET wrong tokens from one address, when it tries again, then 429 with Retry-After; the
        right token still answers 200 at once; no token at all is a 401, not counted."""
        for _ in range(FAILURE_BUDGET + 3):
            status, _ = await api.call("GET", "/api/v1/status", token=None)
            assert status == 401
        statuses = [(await api.call("GET", "/api/v1/status", token=f"guess-{n}"))[0] for n in range(FAILURE_BUDGET)]
        assert statuses == [401] * FAILURE_BUDGET
        status, headers, body = await _raw(api, "GET", "/api/v1/status", {"Authorization": "Bearer guess"})
        assert status == 429
        assert 1 <= int(headers["Retry-After"]) <= FAILURE_WINDOW_S
        assert set(json.loads(body)) == {"error", "details"}
        assert (await api.call("GET", "/api/v1/status"))[0] == 200

    def test_window_slides(self) -> None:
        """Given an address over its budget, when the window has passed since its oldest failure, then its next
        wrong token is a plain 401 again (no wait)."""
        now = [1000.0]
        throttle = Throttle(lambda: now[0], budget=3, window=60.0)
        waits = [throttle.failed("192.0.2.1") for _ in range(4)]
        assert waits[:3] == [0.0, 0.0, 0.0]
        assert waits[3] == 60.0
        assert throttle.failed("192.0.2.2") == 0.0  # another address has its own budget
        now[0] += 61.0
        assert throttle.failed("192.0.2.1") == 0.0


class TestBearer:
    @pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
    async def test_scheme_any_case(self, api: Api, scheme: str) -> None:
        """Given the right token under the Bearer scheme in any case, then 200."""
        status, _, _ = await _raw(api, "GET", "/api/v1/status", {"Authorization": f"{scheme} {TOKEN}"})
        assert status == 200

    @pytest.mark.parametrize("header", [f"Basic {TOKEN}", TOKEN, f"Bearer{TOKEN}", f"Bearer {TOKEN}x",
                                        f"Bearer {TOKEN[:-1]}", f"Token {TOKEN}", "Bearer", f"Bearer\t{TOKEN}x",
                                        f"Bearer {TOKEN.upper()}", f"{TOKEN} Bearer", f"Bearer {TOKEN} {TOKEN}",
                                        f"Bearer%20{TOKEN}", f"Bearer {TOKEN}\u00a0", "Bearer null"])
    async def test_no_bypass(self, api: Api, header: str) -> None:
        """Given a header that is not `Bearer <token>`, then 401 with `WWW-Authenticate: Bearer`."""
        status, headers, _ = await _raw(api, "GET", "/api/v1/status", {"Authorization": header})
        assert status == 401
        assert headers["WWW-Authenticate"].startswith("Bearer")


class TestHostHeader:
    @pytest.mark.parametrize("host", ["evil.example", "evil.example:8088", "127.0.0.1.evil.example",
                                      "localhost.evil.example", "pbx.example.com.evil"])
    @pytest.mark.parametrize("path", ["/api/v1/status", "/healthz", "/", "/metrics"])
    async def test_rebinding_refused(self, api: Api, host: str, path: str) -> None:
        """Given a Host the agent was not told about (a DNS-rebinding page), then 421 in the error shape, even
        with the right token."""
        status, _, body = await _raw(api, "GET", path, {"Host": host, "Authorization": f"Bearer {TOKEN}"})
        assert status == 421
        assert set(json.loads(body)) == {"error", "details"}

    @pytest.mark.parametrize("host", ["localhost", "localhost:8088", "127.0.0.1", "127.0.0.1:8088", "[::1]:8088",
                                      "192.0.2.7:8088", "LOCALHOST", "localhost."])
    async def test_loopback_and_addresses(self, api: Api, host: str) -> None:
        """Given Host: a loopback name or an IP address, then the API answers."""
        status, _, _ = await _raw(api, "GET", "/api/v1/status", {"Host": host, "Authorization": f"Bearer {TOKEN}"})
        assert status == 200

    @pytest.mark.parametrize("host", ["pbx.example.com", "PBX.example.com:8443", "pbx.example.com."])
    async def test_configured_names(self, tmp_path: Path, host: str) -> None:
        """Given EVENT_AGENT_ADMIN__ALLOWED_HOSTS=pbx.example.com,admin.example.com, then those names answer."""
        settings = agent_settings(tmp_path, admin={"allowed_hosts": "pbx.example.com, admin.example.com"})
        async with running_api(tmp_path, settings=settings) as api:
            status, _, _ = await _raw(api, "GET", "/api/v1/status",
                                      {"Host": host, "Authorization": f"Bearer {TOKEN}"})
        assert status == 200

    def test_setting_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Given the variable as a comma-separated list or a JSON array, then the names are read."""
        monkeypatch.setenv("EVENT_AGENT_ADMIN__ALLOWED_HOSTS", "a.example, b.example")
        assert Settings().admin.allowed_hosts == ("a.example", "b.example")
        monkeypatch.setenv("EVENT_AGENT_ADMIN__ALLOWED_HOSTS", '["c.example"]')
        assert Settings().admin.allowed_hosts == ("c.example",)


class TestHeaders:
    @pytest.mark.parametrize("path", ["/", "/static/app.css", "/static/js/main.js", "/api/v1/status",
                                      "/healthz", "/nowhere", "/static/nope.js"])
    async def test_on_every_response(self, api: Api, path: str) -> None:
        """Given any response (page, asset, API, error), then it forbids framing and other origins' scripts."""
        _, headers, _ = await _raw(api, "GET", path, {"Authorization": f"Bearer {TOKEN}"})
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert {key: headers[key] for key in HARDENING} == HARDENING

    @pytest.mark.parametrize("path", ["/static/nope.js", "/static/js/nope.js", "/static/js/", "/static/"])
    async def test_static_404_in_error_shape(self, api: Api, path: str) -> None:
        """Given an asset that does not exist, then 404 in the one JSON error shape."""
        status, headers, body = await _raw(api, "GET", path)
        assert (status, headers["Content-Type"].split(";")[0]) == (404, "application/json")
        assert json.loads(body) == {"error": "not found", "details": []}

    @pytest.mark.parametrize("path", [
        "/static/../app.py", "/static/..%2fapp.py", "/static/%2e%2e/app.py", "/static/%2e%2e%2fapp.py",
        "/static/..%5capp.py", "/static/....//app.py", "/static/js/../../app.py", "/static/%252e%252e/app.py",
        "/static//etc/passwd", "/static/%2fetc%2fpasswd", "/static/..;/app.py", "/static/.%2e/app.py",
        "/static/%c0%ae%c0%ae/app.py", "/static/js/%2e%2e/%2e%2e/app.py", "/static/./../app.py",
        "/static/..\\app.py", "/static/..%00/app.py",
    ])
    async def test_no_traversal(self, api: Api, path: str) -> None:
        """Given a path that tries to leave the assets directory, then no file outside it is served."""
        status, _, body = await _raw(api, "GET", path)
        assert status in {400, 403, 404}
        assert b"def create_app" not in body
        assert b"root:" not in body


class TestUnstorableInput:
    @pytest.mark.parametrize(("change", "field"), [
        ({"name": "a\ud800b"}, "name"),
        ({"description": "\udfff"}, "description"),
        ({"query": [{"key": "k", "value": "v\udc80"}]}, "query.0.value"),
        ({"auth": {"type": "bearer", "token": "\ud83d"}}, "auth.token"),
        ({"body": {"type": "raw", "raw": "\ud800", "content_type": "text/plain"}}, "body.raw"),
    ])
    async def test_lone_surrogate(self, api: Api, change: dict[str, Any], field: str) -> None:
        """Given a lone surrogate anywhere in an action, when it is created, then 422 naming the field, not 500."""
        body = json.dumps(action_json(**change)).encode()  # ensure_ascii spells the surrogate `\\udXXX`
        status, answer = await api.call("POST", "/api/v1/actions", data=body)
        assert (status, [detail["field"] for detail in answer["details"]]) == (422, [field])

    async def test_lone_surrogate_elsewhere(self, api: Api) -> None:
        """Given a lone surrogate in a parameter, a Postman collection or a dry run, then 422, not 500."""
        cases = [("/api/v1/parameters", {"tag": "x", "value": "\ud800"}, "value"),
                 ("/api/v1/postman/preview", {"info": {"name": "\ud800"}}, "info.name"),
                 ("/api/v1/actions/dry-run", {"action": action_json(), "values": {"IP": "\udc00"}}, "values.IP")]
        for path, doc, field in cases:
            status, answer = await api.call("POST", path, data=json.dumps(doc).encode())
            assert (path, status, answer["details"][0]["field"]) == (path, 422, field)

    @pytest.mark.parametrize(("change", "field"), [
        ({"timeout_s": "5"}, "timeout_s"),
        ({"timeout_s": True}, "timeout_s"),
        ({"name": 5}, "name"),
        ({"method": ["GET"]}, "method"),
        ({"query": [{"key": "k", "value": 1}]}, "query.0.value"),
        ({"auth": {"type": "bearer", "token": None}}, "auth.token"),
    ])
    async def test_strict_types(self, api: Api, change: dict[str, Any], field: str) -> None:
        """Given a value of the wrong JSON type (a number as a string, a boolean as a number), then 422 naming
        the field; nothing is coerced."""
        status, answer = await api.call("POST", "/api/v1/actions", json=action_json(**change))
        assert status == 422
        assert field in [detail["field"] for detail in answer["details"]]


async def test_page_still_loads_under_the_policy(api: Api) -> None:
    """Given the policy header, then the page's own scripts are same-origin modules it allows (no inline code)."""
    _, headers, page = await _raw(api, "GET", "/")
    text = page.decode()
    assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'self' covers the modules
    assert '<script type="module" src="/static/js/main.js"></script>' in text
    assert "<script>" not in text
