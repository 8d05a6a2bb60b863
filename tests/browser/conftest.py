"""Fixtures for the web page tests: a real agent, a loopback receiver, and a Chromium page that fails the test
on any console error or uncaught page error.

Without Playwright (the `dev` extra) or Chromium (the Debian package `chromium`) every test here is skipped
with the reason; CI installs both, so there they run. Nothing in this file imports Playwright at module level.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.harness import CHROMIUM_ARGS, SCREENSHOTS, Agent, agent_process
from tests.support.background import BackgroundLoop, background_loop
from tests.support.receiver import Receiver

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = shutil.which("chromium")


def _missing() -> str | None:
    """Why the web page cannot be tested here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install -e '.[dev]'); the web page cannot be tested"
    if CHROMIUM is None:
        return "chromium is not on PATH (Debian package 'chromium'); the web page cannot be tested"
    return None


class BrowserModule(pytest.Module):
    """A browser test module, skipped as a whole (before it is imported) when Playwright or Chromium is missing."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        reason = _missing()
        if reason is not None:
            pytest.skip(reason)
        return list(super().collect())


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    if module_path.name.startswith("test_"):
        return BrowserModule.from_parent(parent, path=module_path)
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "viewport(width, height): the browser window size for a web page test")


@pytest.fixture
def loop() -> Iterator[BackgroundLoop]:
    """The event loop the agent process and the receiver are run on (the tests themselves are synchronous)."""
    with background_loop() as running:
        yield running


@pytest.fixture
def agent(tmp_path: Path, loop: BackgroundLoop) -> Iterator[Agent]:
    with agent_process(loop, tmp_path / "state") as running:
        yield running


@pytest.fixture
def receiver(loop: BackgroundLoop) -> Iterator[Receiver]:
    running = loop.run(Receiver().start())
    try:
        yield running
    finally:
        loop.run(running.stop())


class PageErrors:
    """Console errors and page errors seen during a test; `allow` lists expected console messages (regex)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.allowed: list[re.Pattern[str]] = []

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [text for text in self.seen if not any(p.search(text) for p in self.allowed)]


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


def _viewport(request: pytest.FixtureRequest) -> dict[str, int]:
    marker = request.node.get_closest_marker("viewport")
    return {"width": marker.args[0], "height": marker.args[1]} if marker else {"width": 1280, "height": 900}


@pytest.fixture
def page(agent: Agent, tmp_path: Path, page_errors: PageErrors, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A Chromium page; it depends on `agent` so the browser closes before the agent stops (no refused polls)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport=_viewport(request), accept_downloads=True)
        browser_page = context.pages[0] if context.pages else context.new_page()
        browser_page.set_default_timeout(15_000)
        browser_page.on("console", lambda message: page_errors.seen.append(message.text)
                        if message.type == "error" else None)
        browser_page.on("pageerror", lambda error: page_errors.seen.append(f"pageerror: {error}"))
        try:
            yield browser_page
        finally:
            context.close()
    assert page_errors.unexpected() == [], "the page logged errors"


@pytest.fixture
def shots(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Page, str], Path]:
    """`shots(page, "name")` saves a full-page screenshot to test-output/screenshots/ (and tmp_path)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(browser_page: Page, name: str) -> Path:
        target = SCREENSHOTS / f"{request.node.name}-{name}.png"
        browser_page.screenshot(path=str(target), full_page=True)
        shutil.copy(target, tmp_path / target.name)
        return target

    return take
