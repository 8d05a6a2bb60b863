"""The one error shape: malformed JSON, unknown paths, wrong methods, oversized bodies, unexpected failures."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.api import Api, action_json, running_api
from tests.support.settings import TOKEN


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


def _shape(body: object) -> bool:
    return (isinstance(body, dict) and set(body) == {"error", "details"} and isinstance(body["error"], str)
            and isinstance(body["details"], list))


class TestErrorShape:
    @pytest.mark.parametrize("data", [b"{", b"{'a': 1}", b"", b"\xff\xfe", b"[1,]"])
    async def test_malformed_json(self, api: Api, data: bytes) -> None:
        """Given a body that is not JSON, when sent, then 400 in the error shape and nothing changes."""
        status, body = await api.call("PUT", "/api/v1/settings", data=data)
        assert status == 400
        assert _shape(body)
        assert body["error"] == "malformed JSON"
        assert api.changes == []

    async def test_unknown_path(self, api: Api) -> None:
        """Given an unknown path, when fetched with the token, then 404 in the error shape."""
        status, body = await api.call("GET", "/api/v1/nothing")
        assert status == 404
        assert _shape(body)

    async def test_unknown_public_path(self, api: Api) -> None:
        """Given an unknown path outside the API, when fetched, then 404 in the error shape."""
        status, body = await api.call("GET", "/nothing", token=None)
        assert (status, _shape(body)) == (404, True)

    async def test_method_not_allowed(self, api: Api) -> None:
        """Given a known path, when called with a method it lacks, then 405 listing the allowed ones."""
        status, body = await api.call("DELETE", "/api/v1/settings")
        assert status == 405
        assert _shape(body)
        assert body["details"] == [{"allowed": ["GET", "PUT"]}]

    async def test_too_large(self, api: Api) -> None:
        """Given a body over 1 MiB, when sent to a normal route, then 413 and nothing is written."""
        data = json.dumps({"tag": "big", "value": "x" * (1024 * 1024 + 1)}).encode()
        status, body = await api.call("POST", "/api/v1/parameters", data=io.BytesIO(data))
        assert status == 413
        assert _shape(body)
        assert await api.store.list_parameters() == []

    async def test_too_large_chunked(self, api: Api) -> None:
        """Given a chunked body (no length) over 1 MiB, when sent, then 413."""

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b" " * 65536
            yield b"{}"

        status, body = await api.call("PUT", "/api/v1/settings", data=chunks())
        assert (status, _shape(body)) == (413, True)

    async def test_unexpected_error(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """Given a status source that fails, when /status is read, then 500 in the shape, logged without the token."""

        def broken() -> dict[str, object]:
            raise RuntimeError("status source failed")

        async with running_api(tmp_path, status=broken) as api:
            with caplog.at_level(logging.ERROR):
                status, body = await api.call("GET", "/api/v1/status")
        assert (status, body) == (500, {"error": "internal error", "details": []})
        assert "status source failed" in caplog.text
        assert TOKEN not in caplog.text

    async def test_page_installed(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Given an installed page and asset, when / and /static/app.js are fetched, then both are served."""
        static = tmp_path / "static"
        static.mkdir()
        (static / "index.html").write_text("<!doctype html><title>Event Manager</title>")
        (static / "app.js").write_text("console.log(1);")
        monkeypatch.setattr("agent.admin_api.app.STATIC_DIR", static)
        async with running_api(tmp_path) as api:
            page_status, page = await api.call("GET", "/", token=None)
            asset_status, asset = await api.call("GET", "/static/app.js", token=None)
        assert (page_status, asset_status) == (200, 200)
        assert "Event Manager" in page
        assert asset == "console.log(1);"

    async def test_page_missing(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Given no installed page, when / is fetched, then 404 in the error shape."""
        monkeypatch.setattr("agent.admin_api.app.STATIC_DIR", tmp_path / "none")
        async with running_api(tmp_path) as api:
            status, body = await api.call("GET", "/", token=None)
        assert (status, _shape(body)) == (404, True)


class TestPageCaching:
    @pytest.mark.parametrize("path", ["/", "/static/js/main.js", "/static/app.css", "/static/index.html"])
    async def test_revalidated(self, tmp_path: Path, path: str) -> None:
        """Given the installed page, when it or an asset is fetched, then the answer says Cache-Control: no-cache
        (a browser revalidates, so an upgraded agent never runs old scripts against a new API)."""
        async with running_api(tmp_path) as api, api.client.get(path) as response:
            assert response.status == 200
            assert response.headers.get("Cache-Control") == "no-cache"


class TestExpectHeader:
    @pytest.mark.parametrize("path", ["/", "/api/v1/status", "/static/app.css", "/nowhere", "/api/v1/nothing"])
    async def test_unknown_expectation(self, tmp_path: Path, path: str) -> None:
        """Given a raw request whose Expect header holds a non-ASCII byte, then the answer is 417 in the error
        shape (aiohttp's own handler answered 500 while echoing the value)."""
        async with running_api(tmp_path) as api:
            reader, writer = await asyncio.open_connection("127.0.0.1", api.client.port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nExpect:".encode() + b"\x80\r\n\r\n")
            await writer.drain()
            head, _, body = (await reader.read(4096)).partition(b"\r\n\r\n")
            writer.close()
            await writer.wait_closed()
        assert head.startswith(b"HTTP/1.1 417 ")
        assert set(json.loads(body)) == {"error", "details"}

    async def test_continue(self, tmp_path: Path) -> None:
        """Given `Expect: 100-continue` on a POST, then the interim 100 comes first and the request is served."""
        async with running_api(tmp_path) as api, api.client.post(
            "/api/v1/actions", json=action_json(), headers={**api.headers(), "Expect": "100-continue"}
        ) as response:
            assert response.status == 201
